import { expect } from 'chai';
import { CoordinatorApi, pathOf, routes } from '../../protocol/api.js';

describe('the API route table', () => {
  it('fills in and encodes path parameters, and refuses a missing one', () => {
    expect(pathOf('round', { id: 't-1/../x', round: 3 })).to.equal('/api/tasks/t-1%2F..%2Fx/rounds/3');
    expect(pathOf('weights', { id: 't', which: 'latest' })).to.equal('/api/tasks/t/model/latest/weights.bin');
    expect(() => pathOf('task')).to.throw(/no value for :id/);
    expect(new CoordinatorApi('http://127.0.0.1:8080/').url('info')).to.equal('http://127.0.0.1:8080/api/info');
  });

  it('names every route once, under /api, owner routes as POSTs', () => {
    const paths = Object.values(routes).map((route) => `${route.method} ${route.path}`);
    expect(new Set(paths).size).to.equal(paths.length);
    for (const route of Object.values(routes)) {
      expect(route.path).to.match(/^\/api\//);
      if ('owner' in route) expect(route.method).to.equal('POST');
    }
  });
});
