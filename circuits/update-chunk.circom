pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/poseidon.circom";

/*
 * UpdateChunk(D, B, PACK): one chunk of D parameters of a client's quantized model update q is well formed and
 * bound to its task, round, global model, sender, position in the model and scale.
 *
 *   range    every q[i] lies in [-2^(B-1), 2^(B-1)): the circuit takes shifted[i] = q[i] + 2^(B-1) and checks it has
 *            B bits. This also rules out field wraparound, so the norm below is the integer norm.
 *   norm     Σ q[i]² ≤ normBound: the chunk's share of the task's L2 clip at the chunk's scale 2^f, in quantized
 *            units (circuits/codec.ts normBoundFor), so that Σ (q[i]·2^-f)² ≤ τ_k² whatever f the client chose.
 *   binding  commitment = PoseidonChain(salt, statement, pack(q)): the update cannot be moved to another statement.
 *
 * statement: one public field element, so that the proof costs one elliptic-curve multiplication to verify on-chain
 * instead of seven (~7k gas each). Its bits 48..247 are the top 200 bits of
 *   keccak256(abi.encode(sha256(task id), round, H_r, address, chunkIndex, f))
 * and its bits 0..47 are normBound. The verifier (coordinator, auditor or contract) builds it from its own state and
 * the scale f the update declares; keccak is cheap there and never computed here: the circuit only needs normBound
 * out of it, and the commitment absorbs all of it. The TypeScript twin is circuits/statement.ts, the Solidity one
 * ZkflRewards.statementOf.
 *
 * pack(q): PACK shifted values of B bits each per field element (PACK·B ≤ 253), little-endian.
 * PoseidonChain: h = Poseidon(salt, statement), then h = Poseidon(h, next 15 packed elements, zero-padded) until all
 * are absorbed. The TypeScript twin is circuits/commitment.ts.
 *
 * Public signals, in this order: commitment, statement.
 */
/*
 * Bits(n): in = Σ out[i]·2^i with every out[i] a bit. Like circomlib's Num2Bits, but each bit is constrained as
 * b·b = b rather than b·(b − 1) = 0: the same rule with one term less on the constraint's B side, which the prover
 * evaluates per term (snarkjs builds C from A and B, so C-side terms cost nothing).
 */
template Bits(n) {
    signal input in;
    signal output out[n];
    var sum = 0;
    for (var i = 0; i < n; i++) {
        out[i] <-- (in >> i) & 1;
        out[i] * out[i] === out[i];
        sum += out[i] * (1 << i);
    }
    sum === in;
}

template UpdateChunk(D, B, PACK) {
    assert(PACK * B <= 253);
    var GROUPS = (D + PACK - 1) \ PACK;
    var ABSORBS = (GROUPS + 14) \ 15;
    var BOUND_BITS = 48;
    var HALF = 1 << (B - 1);
    // Σ q² ≤ D · 2^(2B-2) must fit the comparator's BOUND_BITS.
    assert(nbits(D * HALF * HALF) <= BOUND_BITS);

    signal input statement;    // public: statement tag (bits 48..247) and normBound (bits 0..47), see above
    signal input shifted[D];   // the update's values shifted up by 2^(B-1): shifted[i] = q[i] + 2^(B-1)
    signal input salt;         // random, private: hides q from whoever sees only the commitment
    signal output commitment;

    // range: q[i] + 2^(B-1) has B bits. Working on the shifted values keeps every witness value of the chunk small
    // and non-negative (a negative q would be a 254-bit field element), which makes the prover's multi-scalar
    // multiplications cheaper.
    component bits[D];
    for (var i = 0; i < D; i++) {
        bits[i] = Bits(B);
        bits[i].in <== shifted[i];
    }

    // norm: Σ q² = Σ (s - HALF)² = Σ s² - 2·HALF·Σ s + D·HALF². One multiplication per value; the rest is linear.
    signal squares[D];
    var sumOfSquares = 0;
    var sum = 0;
    for (var i = 0; i < D; i++) {
        squares[i] <== shifted[i] * shifted[i];
        sumOfSquares += squares[i];
        sum += shifted[i];
    }
    var normSq = sumOfSquares - 2 * HALF * sum + D * HALF * HALF;
    // 248 bits: a unique decomposition (below the field order), so normBound is exactly the statement's low bits, and
    // below 2^BOUND_BITS as LessEqThan needs; normSq is below it by construction.
    component statementBits = Num2Bits(248);
    statementBits.in <== statement;
    var normBound = 0;
    for (var i = 0; i < BOUND_BITS; i++) {
        normBound += statementBits.out[i] * (1 << i);
    }
    component withinBound = LessEqThan(BOUND_BITS);
    withinBound.in[0] <== normSq;
    withinBound.in[1] <== normBound;
    withinBound.out === 1;

    // binding: pack the shifted values, then chain Poseidon over the header and the packed elements.
    signal packed[GROUPS];
    for (var g = 0; g < GROUPS; g++) {
        var lc = 0;
        for (var m = 0; m < PACK && g * PACK + m < D; m++) {
            lc += shifted[g * PACK + m] * (1 << (B * m));
        }
        packed[g] <== lc;
    }
    component header = Poseidon(2);
    header.inputs[0] <== salt;
    header.inputs[1] <== statement;
    component absorb[ABSORBS];
    for (var k = 0; k < ABSORBS; k++) {
        absorb[k] = Poseidon(16);
        absorb[k].inputs[0] <== k == 0 ? header.out : absorb[k - 1].out;
        for (var j = 0; j < 15; j++) {
            absorb[k].inputs[1 + j] <== 15 * k + j < GROUPS ? packed[15 * k + j] : 0;
        }
    }
    commitment <== absorb[ABSORBS - 1].out;
}
