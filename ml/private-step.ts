/**
 * DP-FedAvg's aggregate step (McMahan et al., ICLR 2018, Algorithm 1 with the fixed-denominator estimator): the sum of
 * the round's updates, each of norm at most the clip S, plus Gaussian noise N(0, σ²S²) in every coordinate, over the
 * expected number of updates per round. The denominator does not depend on who took part, so one holder's update
 * moves the step by at most S/denominator: the sensitivity the noise is calibrated to (protocol/privacy.ts).
 *
 * The noise comes from the platform's cryptographically secure generator (Web Crypto), through the Box–Muller
 * transform on 53-bit uniforms. It is floating-point noise: it does not claim the protection of a discrete or
 * snapped mechanism against attacks on the low bits of floats (Mironov, CCS 2012); SECURITY.md says so.
 */

/**
 * (Σ Δ_k + N(0, (σ·clip)²)) / denominator, per coordinate. `sum` holds each holder's term once, each of norm at
 * most the clip: the updates themselves, or FLTrust's trusted terms (ml/fltrust.ts).
 */
export function privateStep(
  sum: Float64Array,
  noiseMultiplier: number,
  clip: number,
  denominator: number,
): Float64Array {
  const noise = gaussianNoise(sum.length, noiseMultiplier * clip);
  return sum.map((value, i) => (value + noise[i]!) / denominator);
}

/** `size` independent N(0, std²) draws from the secure generator. */
export function gaussianNoise(size: number, std: number): Float64Array {
  const noise = new Float64Array(size);
  const uniforms = secureUniforms(size + (size % 2));
  for (let i = 0; i < size; i += 2) {
    // 1 − u is in (0, 1]: its log is finite.
    const radius = std * Math.sqrt(-2 * Math.log(1 - uniforms[i]!));
    const angle = 2 * Math.PI * uniforms[i + 1]!;
    noise[i] = radius * Math.cos(angle);
    if (i + 1 < size) noise[i + 1] = radius * Math.sin(angle);
  }
  return noise;
}

/** `count` uniforms in [0, 1), 53 random bits each. */
function secureUniforms(count: number): Float64Array {
  const words = new Uint32Array(2 * count);
  // getRandomValues fills at most 65,536 bytes a call.
  for (let start = 0; start < words.length; start += 16_384) {
    crypto.getRandomValues(words.subarray(start, Math.min(words.length, start + 16_384)));
  }
  const uniforms = new Float64Array(count);
  for (let k = 0; k < count; k++) uniforms[k] = ((words[2 * k]! >>> 5) * 2 ** 26 + (words[2 * k + 1]! >>> 6)) / 2 ** 53;
  return uniforms;
}
