/**
 * The one logger every zkfl library writes through. It prints to stderr so that a command's stdout stays
 * machine-readable (`zkfl demo --json`); the CLI sets the level once at start-up.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Where formatted lines go; replaced by the CLI when a progress display owns the terminal. */
export type LogSink = (line: string) => void;

const settings: { level: LogLevel; sink: LogSink } = {
  level: 'info',
  sink: (line) => process.stderr.write(line + '\n'),
};

export function isLogLevel(value: string): value is LogLevel {
  return value in levelRank;
}

export function setLogLevel(level: LogLevel): void {
  settings.level = level;
}

export function setLogSink(sink: LogSink): void {
  settings.sink = sink;
}

function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  const parts = Object.entries(fields).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return `${key}=${text}`;
  });
  return parts.length ? ' ' + parts.join(' ') : '';
}

export function createLogger(component: string): Logger {
  const write = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (levelRank[level] < levelRank[settings.level]) return;
    const time = new Date().toISOString();
    settings.sink(`${time} ${level.padEnd(5)} [${component}] ${message}${formatFields(fields)}`);
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}
