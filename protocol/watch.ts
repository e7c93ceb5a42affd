/**
 * The public `/watch` socket.io namespace: anyone (the dashboard) may follow a task's progress without signing in;
 * it carries what the REST API shows anyway, as it happens. Type-only imports: the dashboard bundles this module.
 */
import type { RoundEndPayload, TaskEndPayload } from './events.js';

export const watchNamespace = '/watch';

export interface WatchClientToServerEvents {
  /**
   * Follow a task (several may be followed on one connection); the ack says it is followed from now on, so that a
   * page reads once more what changed before it asked.
   */
  watch: (taskId: string, ack?: () => void) => void;
}

export interface WatchServerToClientEvents {
  'round:open': (payload: { taskId: string; round: number; attempt: number }) => void;
  'update:accepted': (payload: { taskId: string; round: number; address: string }) => void;
  'round:end': (payload: RoundEndPayload) => void;
  'task:end': (payload: TaskEndPayload) => void;
}
