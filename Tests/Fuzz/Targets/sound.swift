// A sound file through `AudioPreprocessing.clips(path:)`'s decoder, as an item's sound is read: libsndfile (WAV,
// AIFF, FLAC, Ogg, …) with the declared-length checks, and FFmpeg for whatever libsndfile refuses.
import PandaMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    withInputFile(data, size) { _ = try? AudioDecoder.decode(path: $0) }
}
