// Hand-written because ImageBind resamples with torchaudio.functional.resample, whose windowed-sinc kernel
// (Hann window, 6 zero crossings, roll-off 0.99) libswresample does not reproduce; this computes the same kernel
// and applies it as the same strided convolution.

import Foundation

/// torchaudio's `resample(waveform, orig_freq, new_freq)` with its defaults (sinc_interp_hann).
public enum Resampler {
    public static func resample(_ channels: [[Double]], from source: Int, to target: Int) -> [[Double]] {
        guard source != target, let length = channels.first?.count, length > 0 else { return channels }
        return resample(channels, from: source, to: target, outputs: 0..<outputLength(length, from: source, to: target))
    }

    /// The length of a resampled sound: ceil(target · length / source) with the rates reduced by their gcd.
    public static func outputLength(_ length: Int, from source: Int, to target: Int) -> Int {
        guard source != target else { return length }
        let divisor = greatestCommonDivisor(source, target)
        let (original, new) = (source / divisor, target / divisor)
        return (new * length + original - 1) / original
    }

    /// Only the samples `outputs` of the resampled sound (each is computed from its own taps, so they equal those
    /// of the whole), so a sound of which a few seconds are used is not resampled, or held in Double, whole.
    public static func resample<Sample: BinaryFloatingPoint>(_ channels: [[Sample]], from source: Int, to target: Int, outputs: Range<Int>) -> [[Double]] {
        guard let length = channels.first?.count, length > 0 else { return channels.map { _ in [] } }
        return resample(channels, startingAt: 0, of: length, from: source, to: target, outputs: outputs)
    }

    /// The source samples that the outputs `outputs` read (all the taps of their kernel rows), within the sound.
    public static func sourceRange(for outputs: Range<Int>, length: Int, from source: Int, to target: Int) -> Range<Int> {
        guard source != target else { return outputs }
        guard !outputs.isEmpty else { return 0..<0 }
        let (original, new, width) = filter(from: source, to: target)
        // Output position · new + phase reads padded samples position · original ..< + 2 · width + original.
        let (first, last) = (outputs.lowerBound / new, (outputs.upperBound - 1) / new)
        return max(first * original - width, 0)..<min(last * original + original + width, length)
    }

    /// `resample(_:from:to:outputs:)` from part of a sound: `channels` holds its samples from `offset` on, at least
    /// `sourceRange(for: outputs, …)`, of a sound `length` samples long.
    public static func resample<Sample: BinaryFloatingPoint>(
        _ channels: [[Sample]], startingAt offset: Int, of length: Int, from source: Int, to target: Int, outputs: Range<Int>
    ) -> [[Double]] {
        precondition(outputs.clamped(to: 0..<outputLength(length, from: source, to: target)) == outputs)
        guard source != target else { return channels.map { $0[(outputs.lowerBound - offset)..<(outputs.upperBound - offset)].map(Double.init) } }
        let (original, new, width) = filter(from: source, to: target)
        let zeroCrossings = 6.0, rolloff = 0.99
        let baseFrequency = Double(min(original, new)) * rolloff
        let taps = 2 * width + original
        var out = channels.map { _ in [Double](repeating: 0, count: outputs.count) }
        // torchaudio builds the whole kernel, `new` rows of `taps` (for 999,983 Hz to 16 kHz: 16,000 × 1,000,741
        // doubles). Each row is a sinc under a Hann window that is zero past six zero crossings, so only the taps
        // inside it are computed, one phase at a time: memory and time follow the filter's width, not the rate ratio.
        // (The clamped taps outside are not exactly zero, but below 1e-32 of the sum: far under float precision.)
        for phase in 0..<new {
            // Output index = position · new + phase, for the positions that land inside `outputs`.
            let positions = max(outputs.lowerBound - phase + new - 1, 0) / new..<max(outputs.upperBound - phase + new - 1, 0) / new
            guard !positions.isEmpty else { continue }
            // kernel[phase][tap] has |t| < 6 for taps within (width + original · (phase / new ∓ 6 / baseFrequency)).
            let centre = Double(width) + Double(original) * Double(phase) / Double(new)
            let reach = Double(original) * zeroCrossings / baseFrequency
            let firstTap = max(Int((centre - reach).rounded(.down)), 0), lastTap = min(Int((centre + reach).rounded(.up)), taps - 1)
            let kernel = (firstTap...lastTap).map { tap in
                var t = (-Double(phase) / Double(new) + Double(tap - width) / Double(original)) * baseFrequency
                t = min(max(t, -zeroCrossings), zeroCrossings)
                let window = pow(cos(t * .pi / zeroCrossings / 2), 2)
                t *= .pi
                return (t == 0 ? 1 : sin(t) / t) * window * baseFrequency / Double(original)
            }
            for (channel, samples) in channels.enumerated() {
                // Zero padding of `width` before and `width + original` after, as torchaudio pads.
                func sample(_ index: Int) -> Double { index >= width && index - width < length ? Double(samples[index - width - offset]) : 0 }
                for position in positions {
                    var sum = 0.0
                    let start = position * original + firstTap
                    for (tap, weight) in kernel.enumerated() { sum += sample(start + tap) * weight }
                    out[channel][position * new + phase - outputs.lowerBound] = sum
                }
            }
        }
        return out
    }

    /// The rates reduced by their gcd, and the kernel's half width in source samples (torchaudio's
    /// ceil(6 · original / (min(original, new) · 0.99))).
    private static func filter(from source: Int, to target: Int) -> (original: Int, new: Int, width: Int) {
        let divisor = greatestCommonDivisor(source, target)
        let (original, new) = (source / divisor, target / divisor)
        return (original, new, Int((6.0 * Double(original) / (Double(min(original, new)) * 0.99)).rounded(.up)))
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int { b == 0 ? a : greatestCommonDivisor(b, a % b) }
}
