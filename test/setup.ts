// Tests log at warn unless ZKFL_LOG_LEVEL asks for more; child processes inherit the variable.
import { isLogLevel, setLogLevel } from '../common/log.js';

const level = process.env.ZKFL_LOG_LEVEL ?? 'warn';
process.env.ZKFL_LOG_LEVEL = level;
if (isLogLevel(level)) setLogLevel(level);
