import CZstd

/// One-shot zstd frames for the chunks of a compressed tensor. Each instance owns its contexts: one per thread.
final class ZstdCodec {
    private let compressionContext: OpaquePointer
    private let decompressionContext: OpaquePointer

    init() {
        guard let cctx = ZSTD_createCCtx(), let dctx = ZSTD_createDCtx() else {
            fatalError("zstd could not allocate its contexts (out of memory)")
        }
        compressionContext = cctx
        decompressionContext = dctx
    }

    deinit {
        ZSTD_freeCCtx(compressionContext)
        ZSTD_freeDCtx(decompressionContext)
    }

    static func compressBound(_ size: Int) -> Int { ZSTD_compressBound(size) }

    /// Compresses `source` into `destination` (which must hold `compressBound(source.count)` bytes); returns the frame size.
    func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, level: Int32) -> Int {
        let written = ZSTD_compressCCtx(
            compressionContext, destination.baseAddress, destination.count, source.baseAddress, source.count, level)
        precondition(ZSTD_isError(written) == 0, "zstd compression failed: \(Self.errorName(written))")
        return written
    }

    /// Decompresses one frame that must expand to exactly `destination.count` bytes; returns an error sentence otherwise.
    func decompress(_ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> String? {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if declared == ZSTD_CONTENTSIZE_ERROR { return "not a zstd frame" }
        if declared != ZSTD_CONTENTSIZE_UNKNOWN, declared != UInt64(destination.count) {
            return "zstd frame expands to \(declared) bytes, expected \(destination.count)"
        }
        let produced = ZSTD_decompressDCtx(
            decompressionContext, destination.baseAddress, destination.count, frame.baseAddress, frame.count)
        if ZSTD_isError(produced) != 0 { return "zstd: \(Self.errorName(produced))" }
        if produced != destination.count { return "zstd frame expands to \(produced) bytes, expected \(destination.count)" }
        return nil
    }

    private static func errorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }
}

/// Byte-plane shuffling: for n elements of `width` bytes, byte p of element i moves to position p·n + i, so that the
/// exponent bytes of 16- and 32-bit floats sit together, where zstd finds them far more compressible.
enum BytePlanes {
    static func shuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, width: Int) {
        let n = source.count / width
        let src = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
        for plane in 0..<width {
            let out = dst + plane * n
            for i in 0..<n { out[i] = src[i * width + plane] }
        }
    }

    static func unshuffle(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, width: Int) {
        let n = source.count / width
        let src = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
        for plane in 0..<width {
            let input = src + plane * n
            for i in 0..<n { dst[i * width + plane] = input[i] }
        }
    }
}
