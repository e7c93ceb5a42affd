/** Stylesheets are bundled by esbuild (coordinator/surface/dashboard.ts). */
declare module '*.css';
