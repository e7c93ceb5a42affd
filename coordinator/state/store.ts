/** What every table of the coordinator's storage is built on: its database and the fenced write (storage.ts). */
import type { Transaction } from 'kysely';
import type { Db, Tables } from './database.js';

export interface StoreContext {
  readonly db: Db;
  /** A transaction that commits only while the storage's fence holds, if it has one (Storage.fenced). */
  write<T>(work: (trx: Transaction<Tables>) => Promise<T>): Promise<T>;
}

export const now = (): string => new Date().toISOString();

export const bytes = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength);
