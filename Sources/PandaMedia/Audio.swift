import CFFmpeg
import CSndfile
import Foundation

/// Decoded sound: one array of samples in [-1, 1] per channel, at `sampleRate`.
public struct AudioBuffer: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: [[Float]]

    public var frameCount: Int { channels.first?.count ?? 0 }
    public var duration: Double { Double(frameCount) / Double(sampleRate) }
}

/// Some stretches of a decoded sound, with the whole sound's rate and length.
public struct AudioExcerpt: Sendable {
    public var sampleRate: Int
    public var frameCount: Int
    /// Per stretch asked for, one array of samples per channel.
    public var stretches: [[[Float]]]
}

public enum AudioDecoder {
    /// Reads a sound at its own sample rate. WAV, FLAC, OGG/Vorbis and the other formats libsndfile knows go through
    /// libsndfile, samples scaled as `soundfile.read(dtype="float32")` scales them (PCM divided by 2^(bits-1)). A file
    /// libsndfile cannot open — MP3 where libsndfile lacks it, AAC/M4A, the audio track of a video — is decoded with
    /// FFmpeg instead (see `decodeWithFFmpeg`).
    public static func decode(path: String) throws -> AudioBuffer {
        let whole = try decode(path: path) { frames, _ in [0..<frames] }
        return AudioBuffer(sampleRate: whole.sampleRate, channels: whole.stretches[0])
    }

    /// Reads only the stretches (sample ranges, within the sound) that `keep` asks for once it is given the sound's
    /// length and rate. Files are read block by block (libsndfile) or frame by frame (FFmpeg) and only those samples
    /// are kept, so memory follows the stretches, not the file's length.
    public static func decode(path: String, keeping keep: (_ frameCount: Int, _ sampleRate: Int) -> [Range<Int>]) throws -> AudioExcerpt {
        try MediaFile.check(path)
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            let sndfileReason = String(cString: sf_strerror(nil))
            do {
                return try decodeWithFFmpeg(path: path, keeping: keep)
            } catch MediaError.unreadable(_, let reason), MediaError.unsupported(_, let reason) {
                throw MediaError.unreadable(
                    path: path, reason: "not a sound file libsndfile or FFmpeg can read (libsndfile: \(sndfileReason); FFmpeg: \(reason))")
            }
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), frames = Int(info.frames)
        guard channels > 0, info.samplerate > 0 else { throw MediaError.unreadable(path: path, reason: "no channels or no sample rate") }
        guard frames > 0 else { throw MediaError.unreadable(path: path, reason: "contains no audio samples") }
        if let shortfall = declaredShortfall(file) {
            throw MediaError.unreadable(
                path: path, reason: "its header declares \(shortfall.declared) bytes of sound ('\(shortfall.chunk)') but the file holds \(shortfall.held) (truncated?)")
        }
        // Read in blocks, from the start (seeking is not sample-exact in every format), keeping each block's samples
        // that fall in a stretch, split by channel.
        // The header's frame and channel counts are claims (an 84-byte FLAC may declare 2^36 frames, libsndfile takes
        // up to 1024 channels): a stretch is reserved only up to 2^20 samples a channel, beyond which it grows with
        // the samples actually read, and a block holds 2^16 samples whatever the channel count.
        let ranges = keep(frames, Int(info.samplerate))
        var stretches = ranges.map { range in (0..<channels).map { _ in [Float]() } }
        for (index, range) in ranges.enumerated() { for channel in 0..<channels { stretches[index][channel].reserveCapacity(min(range.count, 1 << 20)) } }
        let blockFrames = max(65536 / channels, 1)
        var block = [Float](repeating: 0, count: blockFrames * channels)
        var read = 0
        while read < frames {
            let count = Int(block.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(min(blockFrames, frames - read))) })
            guard count > 0 else { break }
            for (index, range) in ranges.enumerated() {
                let overlap = range.clamped(to: read..<(read + count))
                guard !overlap.isEmpty else { continue }
                for channel in 0..<channels {
                    let samples = stride(from: (overlap.lowerBound - read) * channels + channel, to: (overlap.upperBound - read) * channels, by: channels)
                    stretches[index][channel] += samples.map { block[$0] }
                }
            }
            read += count
        }
        guard read == frames else {
            throw MediaError.unreadable(path: path, reason: "ends after \(read) of \(frames) frames (truncated?)")
        }
        return AudioExcerpt(sampleRate: Int(info.samplerate), frameCount: frames, stretches: stretches)
    }

    /// A chunk that declares more bytes than the file holds, from libsndfile's log of the header it parsed. libsndfile
    /// reads a WAV, AIFF, AU or W64 cut short (or whose data size field is garbage) as a shorter sound, saying so only
    /// in that log, as "data : 308700 (should be 30830)"; the data chunk's line is preferred to the container's.
    /// 0xFFFFFFFF, which streaming writers put where the length is not known yet, is not taken as a length.
    private static func declaredShortfall(_ file: OpaquePointer) -> (chunk: String, declared: Int, held: Int)? {
        var log = [CChar](repeating: 0, count: 16384)
        sf_command(file, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var found: [(chunk: String, declared: Int, held: Int)] = []
        for line in text.split(separator: "\n") {
            guard let open = line.range(of: " (should be "), line.hasSuffix(")"), let colon = line[..<open.lowerBound].range(of: " : ", options: .backwards),
                  let declared = Int(line[colon.upperBound..<open.lowerBound]), let held = Int(line[open.upperBound...].dropLast()),
                  declared > held, declared != 0xFFFF_FFFF
            else { continue }
            found.append((line[..<colon.lowerBound].trimmingCharacters(in: .whitespaces), declared, held))
        }
        return found.first { !["RIFF", "riff", "FORM", "RF64"].contains($0.chunk) } ?? found.first
    }

    /// The best audio stream of any file FFmpeg opens (MP3, AAC, M4A, a video's sound track), whole.
    static func decodeWithFFmpeg(path: String) throws -> AudioBuffer {
        let whole = try decodeWithFFmpeg(path: path) { frames, _ in [0..<frames] }
        return AudioBuffer(sampleRate: whole.sampleRate, channels: whole.stretches[0])
    }

    /// The stretches `keep` asks for of the best audio stream FFmpeg finds, in two passes over the file: the first
    /// counts the samples (a container's stated duration is not exact, and the clips' places depend on the exact
    /// count), the second keeps those of the stretches. Memory: the stretches and one decoded frame, whatever the
    /// sound's length; time: decoding twice.
    static func decodeWithFFmpeg(path: String, keeping keep: (_ frameCount: Int, _ sampleRate: Int) -> [Range<Int>]) throws -> AudioExcerpt {
        let counted = try streamWithFFmpeg(path: path, samples: nil)
        let ranges = keep(counted.frameCount, counted.sampleRate)
        var stretches = ranges.map { range in (0..<counted.channelCount).map { _ in [Float]() } }
        for (index, range) in ranges.enumerated() { for channel in 0..<counted.channelCount { stretches[index][channel].reserveCapacity(range.count) } }
        var position = 0
        let kept = try streamWithFFmpeg(path: path) { planes, count in
            for (index, range) in ranges.enumerated() {
                let overlap = range.clamped(to: position..<(position + count))
                guard !overlap.isEmpty else { continue }
                for channel in planes.indices {
                    stretches[index][channel] += planes[channel][(overlap.lowerBound - position)..<(overlap.upperBound - position)]
                }
            }
            position += count
        }
        guard kept.frameCount == counted.frameCount, kept.sampleRate == counted.sampleRate, kept.channelCount == counted.channelCount else {
            throw MediaError.unreadable(path: path, reason: "decoded to \(counted.frameCount) samples, then to \(kept.frameCount) (an unstable stream)")
        }
        return AudioExcerpt(sampleRate: counted.sampleRate, frameCount: counted.frameCount, stretches: stretches)
    }

    /// Decodes the best audio stream of a file with libavcodec at its native rate and hands each decoded frame to
    /// `samples` as float planar (one buffer per channel), then returns the stream's rate, channels and length.
    /// Decoders that already give float planar (AAC, MP3) hand over their own samples untouched; any other sample
    /// format is converted (not resampled) by libswresample. With `samples` nil the frames are only counted.
    private static func streamWithFFmpeg(
        path: String, samples: ((_ planes: [UnsafeBufferPointer<Float>], _ count: Int) -> Void)?
    ) throws -> (sampleRate: Int, channelCount: Int, frameCount: Int) {
        FFmpegLog.silence()
        func failure(_ code: Int32, _ what: String) -> MediaError { .unreadable(path: path, reason: "\(what): \(FFmpegLog.describe(code))") }
        var format: UnsafeMutablePointer<AVFormatContext>?
        var status = avformat_open_input(&format, path, nil, nil)
        guard status >= 0 else { throw failure(status, "not a media file FFmpeg can open") }
        defer { avformat_close_input(&format) }
        status = avformat_find_stream_info(format, nil)
        guard status >= 0 else { throw failure(status, "cannot read the stream information") }
        var decoder: UnsafePointer<AVCodec>?
        let index = av_find_best_stream(format, AVMEDIA_TYPE_AUDIO, -1, -1, &decoder, 0)
        guard index >= 0, let decoder, let stream = format!.pointee.streams[Int(index)] else {
            throw MediaError.unsupported(path: path, reason: "has no audio stream")
        }
        var codec = avcodec_alloc_context3(decoder)
        defer { avcodec_free_context(&codec) }
        guard let codec else { throw MediaError.unreadable(path: path, reason: "out of memory") }
        avcodec_parameters_to_context(codec, stream.pointee.codecpar)
        codec.pointee.thread_count = 1
        status = avcodec_open2(codec, decoder, nil)
        guard status >= 0 else { throw failure(status, "cannot open the audio decoder") }
        var packet = av_packet_alloc(), frame = av_frame_alloc()
        var resampler: OpaquePointer?
        var scratch: [Float] = []
        defer {
            swr_free(&resampler)
            av_frame_free(&frame)
            av_packet_free(&packet)
        }
        guard let packet, let frame else { throw MediaError.unreadable(path: path, reason: "out of memory") }
        var channelCount = 0, sampleRate = 0, frameCount = 0

        /// Hands one decoded frame's samples on, converted to float planar if need be.
        func take(_ frame: UnsafeMutablePointer<AVFrame>) throws {
            let channels = Int(frame.pointee.ch_layout.nb_channels), count = Int(frame.pointee.nb_samples)
            if channelCount == 0 {
                guard channels > 0, frame.pointee.sample_rate > 0 else { throw MediaError.unreadable(path: path, reason: "no channels or no sample rate") }
                channelCount = channels
                sampleRate = Int(frame.pointee.sample_rate)
            }
            guard channels == channelCount, Int(frame.pointee.sample_rate) == sampleRate else {
                throw MediaError.unsupported(path: path, reason: "the channel count or sample rate changes midway through the stream")
            }
            frameCount += count
            guard let samples else { return }
            let sampleFormat = AVSampleFormat(frame.pointee.format)
            if sampleFormat == AV_SAMPLE_FMT_FLTP {
                samples((0..<channels).map { UnsafeBufferPointer(start: UnsafeRawPointer(frame.pointee.extended_data[$0]!).assumingMemoryBound(to: Float.self), count: count) }, count)
                return
            }
            if resampler == nil {
                var inputLayout = frame.pointee.ch_layout, outputLayout = frame.pointee.ch_layout
                let made = swr_alloc_set_opts2(
                    &resampler, &outputLayout, AV_SAMPLE_FMT_FLTP, Int32(sampleRate), &inputLayout, sampleFormat, Int32(sampleRate), 0, nil)
                guard made >= 0, swr_init(resampler) >= 0 else {
                    let name = av_get_sample_fmt_name(sampleFormat).map { String(cString: $0) } ?? "sample format \(sampleFormat.rawValue)"
                    throw MediaError.unsupported(path: path, reason: "cannot convert \(name) samples to float")
                }
            }
            if scratch.count < channels * count { scratch = [Float](repeating: 0, count: channels * count) }
            try scratch.withUnsafeMutableBufferPointer { scratch in
                var planes: [UnsafeMutablePointer<UInt8>?] = (0..<channels).map {
                    UnsafeMutableRawPointer(scratch.baseAddress! + $0 * count).assumingMemoryBound(to: UInt8.self)
                }
                let converted = frame.pointee.extended_data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: channels) { source in
                    swr_convert(resampler, &planes, Int32(count), source, Int32(count))
                }
                guard converted >= 0 else { throw failure(converted, "sample conversion failed") }
                // Converting the sample format alone, libswresample holds nothing back.
                guard converted == count else { throw MediaError.unreadable(path: path, reason: "sample conversion gave \(converted) of \(count) samples") }
                samples((0..<channels).map { UnsafeBufferPointer(start: scratch.baseAddress! + $0 * count, count: count) }, count)
            }
        }

        var draining = false
        while true {
            let received = avcodec_receive_frame(codec, frame)
            if received == 0 {
                defer { av_frame_unref(frame) }
                try take(frame)
                continue
            }
            if received == panda_averror_eof() { break }
            guard received == panda_averror_eagain() else { throw failure(received, "corrupt audio data") }
            guard !draining else { break }
            if av_read_frame(format, packet) < 0 {
                draining = true
                avcodec_send_packet(codec, nil)  // flush the frames the decoder still holds
                continue
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == index else { continue }
            let sent = avcodec_send_packet(codec, packet)
            guard sent >= 0 || sent == panda_averror_eagain() else { throw failure(sent, "corrupt audio data") }
        }
        guard frameCount > 0 else { throw MediaError.unreadable(path: path, reason: "contains no audio samples") }
        // A cut-off file decodes to what is left without any decoder error; where the container states the stream's
        // length (MP4/M4A sample tables, an MP3's Xing/LAME frame count), falling well short of it means truncation.
        let timeBase = stream.pointee.time_base
        if format!.pointee.duration_estimation_method == AVFMT_DURATION_FROM_STREAM, stream.pointee.duration > 0, timeBase.den > 0 {
            let declared = Double(stream.pointee.duration) * Double(timeBase.num) / Double(timeBase.den)
            let decoded = Double(frameCount) / Double(sampleRate)
            if decoded < 0.95 * declared - 0.05 {
                throw MediaError.unreadable(
                    path: path, reason: String(format: "ends after %.2f s of the %.2f s its container declares (truncated?)", decoded, declared))
            }
        }
        return (sampleRate, channelCount, frameCount)
    }
}
