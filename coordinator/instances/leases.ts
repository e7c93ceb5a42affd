/**
 * Which instance runs which task, when several share one database: each task runs under a lease (`task:<id>`) that
 * its instance renews; an instance that stops renewing loses its tasks to whichever takes them over. The coordinator's
 * transactions are sent by whoever holds the `chain` lease (one nonce sequence). A request for a task (an update, a
 * cancel) is run where the task runs, here or on the instance holding its lease (cluster.ts carries it there).
 */
import { createLogger } from '../../common/log.js';
import { ZkflError } from '../../common/errors.js';
import type { TaskView } from '../../protocol/rest.js';
import type { Storage } from '../state/storage.js';
import { LeaseLost } from '../state/lease-table.js';
import type { TaskRunner } from '../tasks/task-runner.js';
import type { ClientDirectory } from '../tasks/runner-context.js';
import { type ClusterRequests, NotHere } from './cluster.js';

const log = createLogger('leases');

/** The client directory, with what taking a task over from another instance needs (coordinator/surface/gateway.ts). */
export interface CoordinatorDirectory extends ClientDirectory {
  /** Learns the clients every instance holds for the task. */
  load(taskId: string): Promise<void>;
  /** Forgets clients whose instance went away; returns their addresses. */
  refresh(taskId: string): Promise<string[]>;
}

/** What the leases need of the instance that runs tasks (the Coordinator). */
export interface TaskHost {
  /** The runner of a task this instance has started, running or ended. */
  runner(taskId: string): TaskRunner | undefined;
  /** Stops running a task here: its lease went to another instance. */
  drop(taskId: string): void;
  /** Starts running a task whose lease this instance just took. */
  resume(task: TaskView): Promise<void>;
  getTask(id: string): Promise<TaskView>;
}

/** The lease under which one instance runs a task. */
const taskLease = (taskId: string): string => `task:${taskId}`;
/** The lease under which one instance sends the coordinator's transactions (one nonce sequence). */
const chainLease = 'chain';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class TaskLeases {
  /** Whether this instance sends the coordinator's transactions now. */
  holdsChain = false;
  /** With Redis: how this instance reaches the others. */
  private cluster: ClusterRequests | undefined;
  /** Tasks whose lease this instance holds. */
  private readonly leased = new Set<string>();
  private readonly refreshing = new Set<string>();
  /** Recent reads of who holds a lease, shared by the updates forwarded meanwhile (see holderOf). */
  private readonly holders = new Map<string, { read: Promise<string | undefined>; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly storage: Storage,
    /** This instance's name in leases and requests. */
    private readonly instance: string,
    private readonly leaseMs: number,
    private readonly directory: CoordinatorDirectory,
    private readonly host: TaskHost,
    /** Whether the coordinator settles on a chain (and so needs the chain lease). */
    private readonly settles: boolean,
  ) {}

  /** The storage a task's runner writes through: fenced by the task's lease when the database is shared. */
  storageFor(taskId: string): Storage {
    return this.storage.shared ? this.storage.fenced({ name: taskLease(taskId), holder: this.instance }) : this.storage;
  }

  /** How this instance reaches the others (with Redis), for requests about tasks it does not run. */
  reach(cluster: ClusterRequests | undefined): void {
    this.cluster = cluster;
  }

  /**
   * From now on renews the leases held, takes over the running tasks no instance holds, and lets go of those lost;
   * one pass now, the next in a third of a lease's time (so two renewals may fail in a row).
   */
  async keep(): Promise<void> {
    try {
      await this.renew();
    } catch (error) {
      log.warn('cannot renew leases', { error: (error as Error).message });
    }
    if (!this.closed) this.timer = setTimeout(() => void this.keep(), this.leaseMs / 3);
  }

  /** Holds a new task's lease before the task exists: no instance (this one included) may start it meanwhile. */
  async hold(taskId: string): Promise<void> {
    if (!this.storage.shared) return;
    this.leased.add(taskId);
    await this.storage.leases.acquire(taskLease(taskId), this.instance, this.leaseMs);
  }

  /** Lets go of a task's lease (it ended here, or could not start): another instance may take it at once. */
  async release(taskId: string): Promise<void> {
    if (!this.leased.delete(taskId)) return;
    await this.storage.leases.release(taskLease(taskId), this.instance);
  }

  /**
   * Runs `here` with the task's runner if it runs on this instance; otherwise sends the request to the instance
   * holding its lease, waiting out a takeover (until another instance picks the task up, or three leases' time).
   */
  async whereRunning<T>(
    taskId: string,
    here: (runner: TaskRunner) => Promise<T>,
    request: { kind: 'update' | 'cancel'; body: object },
  ): Promise<T> {
    const giveUp = Date.now() + 3 * this.leaseMs;
    for (;;) {
      const runner = this.host.runner(taskId);
      if (runner?.running || !this.cluster) {
        if (!runner) throw new ZkflError('TASK_NOT_RUNNING', `task ${taskId} is not running`);
        try {
          return await here(runner);
        } catch (error) {
          // Taken over by another instance meanwhile: ask where it runs now.
          if (!(error instanceof LeaseLost) || !this.cluster) throw error;
        }
      }
      const answer = await this.askHolder<T>(taskId, request);
      if (answer) return answer.value;
      if ((await this.host.getTask(taskId)).status !== 'running') {
        throw new ZkflError('TASK_NOT_RUNNING', `task ${taskId} is not running`);
      }
      if (Date.now() > giveUp) throw new ZkflError('UNAVAILABLE', `no coordinator instance runs task ${taskId} now`);
      await sleep(500);
    }
  }

  /** Stops renewing and taking over: first thing when the coordinator closes, so that it starts no task meanwhile. */
  stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Lets go of every lease held, so that another instance may take the tasks over at once. */
  async close(): Promise<void> {
    this.stop();
    for (const taskId of this.leased) {
      await this.storage.leases.release(taskLease(taskId), this.instance).catch(() => undefined);
    }
    if (this.holdsChain) await this.storage.leases.release(chainLease, this.instance).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    for (const taskId of this.leased) await this.renewTask(taskId);
    if (this.settles) {
      const held = await this.storage.leases.acquire(chainLease, this.instance, this.leaseMs);
      if (held && !this.holdsChain) log.info('sending the settlement transactions from this instance');
      this.holdsChain = held;
    }
    for (const task of await this.storage.tasks.list('running')) {
      if (this.closed || this.leased.has(task.id)) continue;
      if (await this.storage.leases.acquire(taskLease(task.id), this.instance, this.leaseMs))
        await this.takeOver(task.id);
    }
  }

  private async renewTask(taskId: string): Promise<void> {
    const runner = this.host.runner(taskId);
    if (runner && !runner.running) {
      // Ended here: the task is no one's to run any more.
      await this.release(taskId);
    } else if (!(await this.storage.leases.acquire(taskLease(taskId), this.instance, this.leaseMs))) {
      log.warn('lost the task to another instance', { task: taskId });
      this.leased.delete(taskId);
      this.host.drop(taskId);
    } else if (runner) {
      this.refreshClients(taskId, runner);
    }
    // (No runner yet: the task is being created or resumed here.)
  }

  /** Starts a task whose lease was just taken. */
  private async takeOver(taskId: string): Promise<void> {
    this.leased.add(taskId);
    // As it stands now that no one else may write to it: the list was read before the lease was taken.
    const current = (await this.storage.tasks.get(taskId))!;
    if (current.status !== 'running') {
      await this.release(taskId);
      return;
    }
    log.info('took the task over', { task: taskId, round: current.currentRound });
    // Clients that join from now on are announced; those already connected elsewhere are asked for.
    await this.directory
      .load(taskId)
      .catch((error: unknown) =>
        log.warn('cannot list the clients of other instances', { task: taskId, error: String(error) }),
      );
    // In the background: a round resumed while aggregating takes a while, and the leases must go on.
    this.host
      .resume(current)
      .catch((error: unknown) => log.error('could not record the failure', { task: taskId, error: String(error) }));
  }

  /**
   * Forgets the task's clients whose instance went away (their sockets are gone with it); in the background, since
   * asking every instance waits for the slowest, and lease renewals must not.
   */
  private refreshClients(taskId: string, runner: TaskRunner): void {
    if (this.refreshing.has(taskId)) return;
    this.refreshing.add(taskId);
    this.directory
      .refresh(taskId)
      .then(
        (gone) => gone.forEach((address) => runner.clientGone(address)),
        (error: unknown) => log.debug('cannot list the clients of other instances', { error: String(error) }),
      )
      .finally(() => this.refreshing.delete(taskId));
  }

  /** Sends the request to the instance holding the task's lease, if another does and still runs it there. */
  private async askHolder<T>(
    taskId: string,
    request: { kind: 'update' | 'cancel'; body: object },
  ): Promise<{ value: T } | undefined> {
    const lease = taskLease(taskId);
    const holder = await this.holderOf(lease);
    if (holder === undefined || holder === this.instance || !this.cluster) return undefined;
    const stillThere = async (): Promise<boolean> => (await this.holderOf(lease)) === holder;
    try {
      return { value: (await this.cluster.request(holder, request.kind, request.body, stillThere)) as T };
    } catch (error) {
      if (error instanceof NotHere) return undefined;
      throw error;
    }
  }

  /**
   * Who holds the lease `name`, read from the database at most once a second: every update forwarded to another
   * instance asks, and each keeps asking while it waits for its verdict.
   */
  private holderOf(name: string): Promise<string | undefined> {
    const recent = this.holders.get(name);
    if (recent && Date.now() - recent.at < 1000) return recent.read;
    const read = this.storage.leases.holder(name);
    this.holders.set(name, { read, at: Date.now() });
    return read;
  }
}
