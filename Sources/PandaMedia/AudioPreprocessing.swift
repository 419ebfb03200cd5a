// Hand-written because ImageBind's numbers come from torchaudio's Kaldi-compatible fbank (with its own framing,
// windowing and mel banks) and no C library here reproduces it; the 512-point FFT it needs is written here too.
import Foundation
import PandaFormat

/// ImageBind's audio transform (imagebind/data.py `load_and_transform_audio_data` with its defaults): 16 kHz,
/// three 2-second clips, a 128-bin Kaldi fbank of each (25 ms Hann windows every 10 ms), padded to 204 frames,
/// normalized with mean −4.268 and standard deviation 9.138: a [3, 1, 128, 204] tensor.
public enum AudioPreprocessing {
    public static let sampleRate = 16000
    public static let melBins = 128
    public static let targetFrames = 204
    public static let clipsPerItem = 3
    public static let clipSeconds = 2

    /// The normalized log-mel clips of a sound (resampled to 16 kHz as torchaudio does), [3, 1, 128, 204]. Only the
    /// stretches the clips cover are resampled, so time and memory beyond the decoded sound do not grow with its length.
    public static func clips(_ audio: AudioBuffer, path: String = "audio") throws -> FloatTensor {
        guard audio.frameCount > 0, audio.sampleRate > 0 else { throw MediaError.unreadable(path: path, reason: "contains no audio samples") }
        let bounds = clipBounds(frames: Resampler.outputLength(audio.frameCount, from: audio.sampleRate, to: sampleRate))
        let stretches = stretches(of: bounds)
        let waveforms = stretches.map { Resampler.resample(audio.channels, from: audio.sampleRate, to: sampleRate, outputs: $0) }
        return clips(bounds: bounds, stretches: stretches, waveforms: waveforms)
    }

    /// The same clips of a sound file, decoding only the samples they use: memory does not grow with the sound's
    /// length for the formats libsndfile reads (see `AudioDecoder.decode(path:keeping:)`).
    public static func clips(path: String) throws -> FloatTensor {
        var (bounds, stretches, sources): ([(Int, Int)], [Range<Int>], [Range<Int>]) = ([], [], [])
        let excerpt = try AudioDecoder.decode(path: path) { frames, rate in
            bounds = clipBounds(frames: Resampler.outputLength(frames, from: rate, to: sampleRate))
            stretches = Self.stretches(of: bounds)
            sources = stretches.map { Resampler.sourceRange(for: $0, length: frames, from: rate, to: sampleRate) }
            return sources
        }
        let waveforms = stretches.indices.map { index in
            Resampler.resample(excerpt.stretches[index], startingAt: sources[index].lowerBound, of: excerpt.frameCount, from: excerpt.sampleRate,
                               to: sampleRate, outputs: stretches[index])
        }
        return clips(bounds: bounds, stretches: stretches, waveforms: waveforms)
    }

    /// The clips' union as disjoint stretches of the 16 kHz waveform, in order (overlapping clips share one).
    static func stretches(of bounds: [(Int, Int)]) -> [Range<Int>] {
        var stretches: [Range<Int>] = []
        for (start, end) in bounds.sorted(by: { $0.0 < $1.0 }) where start < end {
            if let last = stretches.last, start <= last.upperBound {
                stretches[stretches.count - 1] = last.lowerBound..<max(last.upperBound, end)
            } else {
                stretches.append(start..<end)
            }
        }
        return stretches
    }

    /// Each clip's normalized fbank, from the resampled stretches (`waveforms[k]`: every channel over `stretches[k]`).
    static func clips(bounds: [(Int, Int)], stretches: [Range<Int>], waveforms: [[[Double]]]) -> FloatTensor {
        var waveforms = waveforms
        var result: [[Float]] = []
        for (start, end) in bounds {
            guard let stretch = stretches.firstIndex(where: { $0.contains(start) }) else {
                result.append(normalized([]))  // an empty clip, as data.py's: all padding
                continue
            }
            let (from, to) = (start - stretches[stretch].lowerBound, end - stretches[stretch].lowerBound)
            // data.py subtracts each clip's mean in place, on a view of the whole waveform: where clips overlap,
            // later clips see earlier clips' shifts. Reproduced on purpose.
            let channels = waveforms[stretch]
            let mean = channels.reduce(0.0) { $0 + $1[from..<to].reduce(0, +) } / Double((end - start) * channels.count)
            for channel in channels.indices { for i in from..<to { waveforms[stretch][channel][i] -= mean } }
            result.append(normalized(fbank(Array(waveforms[stretch][0][from..<to]))))
        }
        return FloatTensor(shape: [result.count, 1, melBins, targetFrames], values: result.flatMap { $0 })
    }

    /// pytorchvideo 0.1.5's ConstantClipsPerVideoSampler(2 s, 3 clips): starts k · (duration − 2) / 3, in samples
    /// truncated as int(seconds · 16000) with exact fractions.
    static func clipBounds(frames: Int) -> [(Int, Int)] {
        let clip = clipSeconds * sampleRate
        let room = max(frames - clip, 0)  // (duration − 2 s) in samples, exact
        return (0..<clipsPerItem).map { k in
            let start = room * k / clipsPerItem  // floor of an exact fraction
            let end = (room * k + clip * clipsPerItem) / clipsPerItem
            return (start, min(end, frames))
        }
    }

    /// (fbank, padded with zeros or cut to 204 frames, − (−4.268)) / 9.138, mel-major [128 × 204].
    static func normalized(_ frames: [[Double]]) -> [Float] {
        var out = [Float](repeating: 0, count: melBins * targetFrames)
        for bin in 0..<melBins {
            for frame in 0..<targetFrames {
                let value = frame < frames.count ? Float(frames[frame][bin]) : 0
                out[bin * targetFrames + frame] = (value - -4.268) / 9.138
            }
        }
        return out
    }

    /// torchaudio.compliance.kaldi.fbank with ImageBind's settings on one channel: per frame of 400 samples every
    /// 160 (snip_edges), remove the DC offset, pre-emphasis 0.97, symmetric Hann window, zero-pad to 512, power
    /// spectrum, 128 triangular mel bins from 20 Hz to 8 kHz, log floored at float32 epsilon. [frames][128].
    static func fbank(_ samples: [Double]) -> [[Double]] {
        let window = 400, shift = 160, padded = 512
        guard samples.count >= window else { return [] }
        let frameCount = 1 + (samples.count - window) / shift
        let hann = (0..<window).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(window - 1)) }
        var frames: [[Double]] = []
        var real = [Double](repeating: 0, count: padded), imaginary = [Double](repeating: 0, count: padded)
        for frame in 0..<frameCount {
            var x = Array(samples[(frame * shift)..<(frame * shift + window)])
            let mean = x.reduce(0, +) / Double(window)
            for i in x.indices { x[i] -= mean }
            for i in stride(from: window - 1, to: 0, by: -1) { x[i] -= 0.97 * x[i - 1] }
            x[0] -= 0.97 * x[0]
            for i in 0..<padded {
                real[i] = i < window ? x[i] * hann[i] : 0
                imaginary[i] = 0
            }
            FFT.transform(&real, &imaginary)
            let power = (0...(padded / 2)).map { real[$0] * real[$0] + imaginary[$0] * imaginary[$0] }
            frames.append(melBanks.map { bank in
                var energy = 0.0
                for (offset, weight) in bank.weights.enumerated() { energy += weight * power[bank.first + offset] }
                return log(max(energy, Double(Float.ulpOfOne)))
            })
        }
        return frames
    }

    /// Kaldi's mel filterbank: mel(f) = 1127 ln(1 + f / 700), bins equally spaced in mel between 20 Hz and the
    /// Nyquist frequency, triangles over the 256 lower FFT bins (the 257th, Nyquist, gets no weight). Each bank
    /// keeps only its nonzero run of weights.
    static let melBanks: [(first: Int, weights: [Double])] = {
        func mel(_ frequency: Double) -> Double { 1127 * log(1 + frequency / 700) }
        let low = mel(20), high = mel(Double(sampleRate) / 2)
        let delta = (high - low) / Double(melBins + 1)
        let binWidth = Double(sampleRate) / 512
        return (0..<melBins).map { bin in
            let left = low + Double(bin) * delta, center = left + delta, right = center + delta
            let weights = (0..<256).map { k in
                let m = mel(binWidth * Double(k))
                return max(0, min((m - left) / (center - left), (right - m) / (right - center)))
            }
            let first = weights.firstIndex { $0 > 0 } ?? 0
            let last = weights.lastIndex { $0 > 0 } ?? 0
            return (first, Array(weights[first...last]))
        }
    }()
}

/// An in-place iterative radix-2 complex FFT (power-of-two sizes).
enum FFT {
    static func transform(_ real: inout [Double], _ imaginary: inout [Double]) {
        let n = real.count
        precondition(n > 0 && n & (n - 1) == 0 && imaginary.count == n)
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j |= bit
            if i < j { real.swapAt(i, j); imaginary.swapAt(i, j) }
        }
        var length = 2
        while length <= n {
            let angle = -2 * Double.pi / Double(length)
            for start in stride(from: 0, to: n, by: length) {
                for k in 0..<(length / 2) {
                    let (wr, wi) = (cos(angle * Double(k)), sin(angle * Double(k)))
                    let (a, b) = (start + k, start + k + length / 2)
                    let tr = real[b] * wr - imaginary[b] * wi, ti = real[b] * wi + imaginary[b] * wr
                    real[b] = real[a] - tr; imaginary[b] = imaginary[a] - ti
                    real[a] += tr; imaginary[a] += ti
                }
            }
            length <<= 1
        }
    }
}
