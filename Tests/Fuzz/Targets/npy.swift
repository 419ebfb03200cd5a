// A numpy .npy file: magic, header version and length, the header's Python dict, the data's length.
import PandaMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? NPYArray(bytes: Array(UnsafeBufferPointer(start: data, count: size)), path: "fuzz.npy")
    return 0
}
