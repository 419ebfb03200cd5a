// Hand-written because ImageBind resamples with torchaudio.functional.resample, whose windowed-sinc kernel
// (Hann window, 6 zero crossings, roll-off 0.99) libswresample does not reproduce; this computes the same kernel
// and applies it as the same strided convolution.

import Foundation

/// torchaudio's `resample(waveform, orig_freq, new_freq)` with its defaults (sinc_interp_hann).
public enum Resampler {
    public static func resample(_ channels: [[Double]], from source: Int, to target: Int) -> [[Double]] {
        guard source != target, let length = channels.first?.count, length > 0 else { return channels }
        let divisor = greatestCommonDivisor(source, target)
        let (original, new) = (source / divisor, target / divisor)
        let zeroCrossings = 6.0, rolloff = 0.99
        let baseFrequency = Double(min(original, new)) * rolloff
        let width = Int((zeroCrossings * Double(original) / baseFrequency).rounded(.up))
        let taps = 2 * width + original
        // kernel[phase][tap]: the sinc centred between input samples for output phase `phase`, under a Hann window.
        let kernel: [[Double]] = (0..<new).map { phase in
            (0..<taps).map { tap in
                var t = (-Double(phase) / Double(new) + Double(tap - width) / Double(original)) * baseFrequency
                t = min(max(t, -zeroCrossings), zeroCrossings)
                let window = pow(cos(t * .pi / zeroCrossings / 2), 2)
                t *= .pi
                return (t == 0 ? 1 : sin(t) / t) * window * baseFrequency / Double(original)
            }
        }
        let outputLength = (new * length + original - 1) / original  // ceil(new · length / original)
        return channels.map { samples in
            // Zero padding of `width` before and `width + original` after, as torchaudio pads.
            func sample(_ index: Int) -> Double { index >= width && index - width < length ? samples[index - width] : 0 }
            var out = [Double](repeating: 0, count: outputLength)
            for position in 0..<(length / original + 1) {
                for phase in 0..<new {
                    let index = position * new + phase
                    guard index < outputLength else { break }
                    var sum = 0.0
                    let start = position * original
                    for tap in 0..<taps { sum += sample(start + tap) * kernel[phase][tap] }
                    out[index] = sum
                }
            }
            return out
        }
    }

    static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int { b == 0 ? a : greatestCommonDivisor(b, a % b) }
}
