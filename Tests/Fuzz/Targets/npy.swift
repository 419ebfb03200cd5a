// A numpy .npy file (depth maps, IMU recordings, job inputs): magic, version, the header's dict literal, dtype,
// shape and data length, then every value converted.
import PandaMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? NPYArray(bytes: Array(UnsafeBufferPointer(start: data, count: size)), path: "fuzz.npy")
    return 0
}
