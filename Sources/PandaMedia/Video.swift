import CFFmpeg
import Foundation

/// One decoded picture and when it is shown.
public struct VideoFrame: Sendable {
    public var time: Double
    public var image: Image8
}

/// Reads the best video stream of a file (mp4, mkv, webm, mov, and still pictures FFmpeg knows) frame by frame,
/// through libavformat and libavcodec, converting each frame to RGB with libswscale.
public final class VideoReader {
    public let path: String
    public private(set) var width: Int
    public private(set) var height: Int
    /// Frames per second (the stream's average rate; 0 when unknown, as for a still picture).
    public private(set) var frameRate: Double
    /// Seconds, from the stream or else the container; 0 when unknown.
    public private(set) var duration: Double

    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var codec: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var scaler: OpaquePointer?
    private var streamIndex: Int32
    private var timeBase: AVRational
    private var draining = false

    /// `maxPixels`: the largest frame decoded; a stream declaring more is refused before any frame is decoded.
    public init(path: String, maxPixels: Int = ImageLimits.maxPixels) throws {
        self.path = path
        try MediaFile.check(path)
        FFmpegLog.silence()
        func failure(_ code: Int32, _ what: String) -> MediaError { .unreadable(path: path, reason: "\(what): \(FFmpegLog.describe(code))") }
        var format: UnsafeMutablePointer<AVFormatContext>?
        var status = avformat_open_input(&format, path, nil, nil)
        guard status >= 0 else { throw failure(status, "not a media file FFmpeg can open") }
        self.format = format
        // Until every resource exists, deinit must be able to free what does; so fill fields as they come.
        codec = nil
        streamIndex = -1
        timeBase = AVRational(num: 0, den: 1)
        (width, height, frameRate, duration) = (0, 0, 0, 0)
        // Reading the stream information decodes a first frame where the header leaves the pixel format open (PNG
        // does): with the decoders' max_pixels set, a picture past the limit fails that decode instead of being
        // allocated (its size is then unknown here, and read below from the first packet). FFmpeg counts the width
        // rounded up to its stride alignment, so it is given an eighth more, leaving the exact check to Panda.
        let decoderLimit = String(maxPixels + maxPixels / 8)
        let streamCount = Int(format!.pointee.nb_streams)
        var options = [OpaquePointer?](repeating: nil, count: max(streamCount, 1))
        for index in 0..<streamCount { av_dict_set(&options[index], "max_pixels", decoderLimit, 0) }
        status = avformat_find_stream_info(format, &options)
        for index in options.indices { av_dict_free(&options[index]) }
        guard status >= 0 else { throw failure(status, "cannot read the stream information") }
        var decoder: UnsafePointer<AVCodec>?
        let index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        guard index >= 0, let decoder, let stream = format!.pointee.streams[Int(index)] else {
            throw MediaError.unsupported(path: path, reason: "has no video stream (expected a video or a picture)")
        }
        guard let context = avcodec_alloc_context3(decoder) else { throw MediaError.unreadable(path: path, reason: "out of memory") }
        codec = context
        avcodec_parameters_to_context(context, stream.pointee.codecpar)
        try ImageLimits.check(path: path, width: Int(context.pointee.width), height: Int(context.pointee.height), limit: maxPixels)
        // The decoder refuses a frame much larger than the limit too, should one differ from the size the stream declares.
        context.pointee.max_pixels = Int64(maxPixels + maxPixels / 8)
        context.pointee.thread_count = 1  // frame-exact and reproducible; clips are short
        status = avcodec_open2(context, decoder, nil)
        guard status >= 0 else { throw failure(status, "cannot open the video decoder") }
        packet = av_packet_alloc()
        frame = av_frame_alloc()
        streamIndex = index
        timeBase = stream.pointee.time_base
        if context.pointee.width == 0 || context.pointee.height == 0 {
            // Still unknown: decode the first packet (a frame it gives stays in the decoder for `nextDecodedFrame`).
            // FFmpeg refuses a size past max_pixels with EINVAL and forgets it; PNG's is read from its header.
            if sendFirstPacket() == -EINVAL {
                let size = MediaFile.pngSize(path) ?? (0, 0)
                if size.width == 0 || size.width * size.height > maxPixels {
                    throw MediaError.tooManyPixels(path: path, width: size.width, height: size.height, limit: maxPixels)
                }
            }
        }
        width = Int(context.pointee.width)
        height = Int(context.pointee.height)
        guard width > 0, height > 0 else { throw MediaError.unreadable(path: path, reason: "the video stream has no picture size") }
        let rate = stream.pointee.avg_frame_rate
        frameRate = rate.den > 0 ? Double(rate.num) / Double(rate.den) : 0
        if stream.pointee.duration > 0 {
            duration = Double(stream.pointee.duration) * Double(timeBase.num) / Double(timeBase.den)
        } else if format!.pointee.duration > 0 {
            duration = Double(format!.pointee.duration) / Double(AV_TIME_BASE)
        } else {
            duration = 0
        }
    }

    deinit {
        sws_freeContext(scaler)
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&codec)
        avformat_close_input(&format)
    }

    /// Feeds the decoder the stream's first packet; returns what `avcodec_send_packet` returned (0 without a packet).
    private func sendFirstPacket() -> Int32 {
        guard let codec, let packet else { return 0 }
        while av_read_frame(format, packet) >= 0 {
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            return avcodec_send_packet(codec, packet)
        }
        return 0
    }

    /// The next frame in presentation order, or nil at the end of the stream.
    public func nextFrame() throws -> VideoFrame? {
        guard let frame = try nextDecodedFrame() else { return nil }
        return try convert(frame)
    }

    /// The next frame's time, and the frame itself in RGB only if `wanted` accepts that time (the others are not
    /// converted); nil at the end of the stream.
    public func nextFrame(converting wanted: (Double) -> Bool) throws -> (time: Double, frame: VideoFrame?)? {
        guard let frame = try nextDecodedFrame() else { return nil }
        let time = time(of: frame)
        guard wanted(time) else {
            av_frame_unref(frame)
            return (time, nil)
        }
        return (time, try convert(frame))
    }

    private func time(of frame: UnsafeMutablePointer<AVFrame>) -> Double {
        let timestamp = frame.pointee.best_effort_timestamp
        return timestamp == Int64.min ? 0 : Double(timestamp) * Double(timeBase.num) / Double(timeBase.den)
    }

    /// The codec of the picture stream.
    var codecID: AVCodecID { codec?.pointee.codec_id ?? AV_CODEC_ID_NONE }

    /// The next frame as the decoder gives it (its own pixel format), or nil at the end of the stream. The frame is
    /// the reader's and is valid until the next call; the caller unreferences it (`av_frame_unref`) when done.
    func nextDecodedFrame() throws -> UnsafeMutablePointer<AVFrame>? {
        guard let codec, let packet, let frame else { return nil }
        while true {
            let received = avcodec_receive_frame(codec, frame)
            if received == 0 { return frame }
            if received == panda_averror_eof() { return nil }
            guard received == panda_averror_eagain() else {
                throw MediaError.unreadable(path: path, reason: "corrupt video data: \(FFmpegLog.describe(received))")
            }
            guard !draining else { return nil }
            let read = av_read_frame(format, packet)
            if read < 0 {
                draining = true
                avcodec_send_packet(codec, nil)  // flush the frames the decoder still holds
                continue
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            let sent = avcodec_send_packet(codec, packet)
            guard sent >= 0 || sent == panda_averror_eagain() else {
                throw MediaError.unreadable(path: path, reason: "corrupt video data: \(FFmpegLog.describe(sent))")
            }
        }
    }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>) throws -> VideoFrame {
        let (w, h) = (Int(frame.pointee.width), Int(frame.pointee.height))
        // Plain bilinear chroma upsampling: the conversion PyAV's to_ndarray("rgb24") makes, pixel for pixel.
        scaler = sws_getCachedContext(scaler, Int32(w), Int32(h), AVPixelFormat(frame.pointee.format), Int32(w), Int32(h), AV_PIX_FMT_RGB24,
                                      SWS_BILINEAR, nil, nil, nil)
        guard let scaler else { throw MediaError.unsupported(path: path, reason: "no conversion to RGB from this pixel format") }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            var destination: [UnsafeMutablePointer<UInt8>?] = [out.baseAddress, nil, nil, nil]
            var strides: [Int32] = [Int32(w * 3), 0, 0, 0]
            withUnsafePointer(to: &frame.pointee.data) { data in
                withUnsafePointer(to: &frame.pointee.linesize) { linesize in
                    data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { planes in
                        linesize.withMemoryRebound(to: Int32.self, capacity: 8) { lines in
                            _ = sws_scale(scaler, planes, lines, 0, Int32(h), &destination, &strides)
                        }
                    }
                }
            }
        }
        let time = time(of: frame)
        av_frame_unref(frame)
        return VideoFrame(time: time, image: Image8(width: w, height: h, channels: 3, pixels: pixels))
    }
}

enum FFmpegLog {
    /// FFmpeg prints warnings to stderr by default; Panda reports failures itself. (Setting the level is an
    /// idempotent store of one int, so calling it before every open is harmless.)
    static func silence() { av_log_set_level(AV_LOG_QUIET) }

    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        av_strerror(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
