/** Stylesheets are bundled by esbuild (coordinator/dashboard.ts). */
declare module '*.css';
