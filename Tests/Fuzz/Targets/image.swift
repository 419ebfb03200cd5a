// A picture file through `ImageDecoder.decode`, as an item's picture is read: FFmpeg's probing and decoders
// (PNG, WebP, GIF, BMP, TIFF, anything FFmpeg recognizes), the pixel limit given to them, conversion to RGB.
// The limit is 2^22 pixels rather than the default, so that an input declaring a large picture stays cheap.
import PandaMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    withInputFile(data, size) { _ = try? ImageDecoder.decode(path: $0, maxPixels: 1 << 22) }
}
