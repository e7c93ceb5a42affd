// Child processes do not inherit tsx's loader when the parent registered it through its API: register it here,
// then load the TypeScript module the parent named.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[2]);
