/** The typed API client every page reads through: the coordinator that served the page. */
import { CoordinatorApi } from '../protocol/api.js';

export const api = new CoordinatorApi(window.location.origin);
