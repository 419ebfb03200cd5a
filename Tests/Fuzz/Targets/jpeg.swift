// A JPEG through libjpeg and Panda's shim: header, pixel limit, CMYK/YCCK conversion, EXIF orientation. Inputs
// that are no JPEG are left to the `image` target, as `ImageDecoder.decode` sends them to FFmpeg. The pixel limit
// is 2^22 rather than the default 89,478,485, so that an input declaring a large picture costs milliseconds; the
// check is the same code.
import Foundation
@testable import PandaMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3, data[0] == 0xFF, data[1] == 0xD8, data[2] == 0xFF else { return 0 }
    _ = try? ImageDecoder.decodeJPEG(Data(bytes: data, count: size), path: "fuzz.jpg", maxPixels: 1 << 22)
    return 0
}
