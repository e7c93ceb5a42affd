/** What the coordinator reports as a task runs: for dashboards, the demo's progress display and logs. */
import type { RoundEndPayload } from '../../protocol/events.js';
import type { TaskStatus } from '../../protocol/states.js';
import type { ErrorCode } from '../../common/errors.js';

export interface CoordinatorEvents {
  'round:open': [{ taskId: string; round: number; attempt: number; sampled: string[] }];
  'update:accepted': [{ taskId: string; round: number; address: string; numSamples: number }];
  'update:rejected': [
    { taskId: string; round: number; address: string; code: ErrorCode; reason: string; proofsRejected: number },
  ];
  /** What clients get in `round:end`, and the round's rejections and wall time. */
  'round:end': [RoundEndPayload & { rejected: number; seconds: number }];
  'task:end': [{ taskId: string; status: TaskStatus }];
}
