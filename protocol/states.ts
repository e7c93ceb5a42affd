/** The states a task and a round go through: shared by the REST views and the socket events, importing nothing. */
export type TaskStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export type RoundPhase = 'open' | 'training' | 'aggregating' | 'evaluated';
