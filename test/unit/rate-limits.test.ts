import { expect } from 'chai';
import { ZkflError } from '../../common/errors.js';
import { defaultRateLimits, RateLimiter } from '../../coordinator/surface/rate-limits.js';

describe('audit bundles sent at once (coordinator/surface/rate-limits.ts)', () => {
  const limiter = () => new RateLimiter({ ...defaultRateLimits, auditStreamsPerIp: 2, auditStreams: 3 });
  const refusal = (open: () => unknown): string | undefined => {
    try {
      open();
      return undefined;
    } catch (error) {
      return (error as ZkflError).code;
    }
  };

  it('holds each IP address to its places, and all addresses together to theirs', () => {
    const limits = limiter();
    limits.openAuditStream('10.0.0.1');
    limits.openAuditStream('10.0.0.1');
    expect(refusal(() => limits.openAuditStream('10.0.0.1'))).to.equal('RATE_LIMITED');
    limits.openAuditStream('10.0.0.2');
    // Another address has a place of its own, but none is left in all.
    expect(refusal(() => limits.openAuditStream('10.0.0.3'))).to.equal('RATE_LIMITED');
  });

  it('frees a place once its answer ended, once however often it is released', () => {
    const limits = limiter();
    const release = limits.openAuditStream('10.0.0.1');
    limits.openAuditStream('10.0.0.1');
    release();
    release();
    limits.openAuditStream('10.0.0.1');
    expect(refusal(() => limits.openAuditStream('10.0.0.1'))).to.equal('RATE_LIMITED');
    limits.openAuditStream('10.0.0.2');
    expect(refusal(() => limits.openAuditStream('10.0.0.2'))).to.equal('RATE_LIMITED');
  });
});
