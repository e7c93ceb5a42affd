/** What the audit's steps report: one problem each, for a round or for the task as a whole. */
export interface Problem {
  /** null for the task as a whole. */
  round: number | null;
  kind: string;
  detail: string;
}

/** Reports one problem: `round` null for the task as a whole. */
export type ReportProblem = (round: number | null, kind: string, detail: string) => void;
