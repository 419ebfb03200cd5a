// A .panda file: header, index checksum, metadata and tensor table; then every tensor's bytes are read, so
// that what validation let through is also used.
import PandaFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    withInputFile(data, size) { path in
        guard let file = try? WeightFile(path: path) else { return }
        _ = file.verify()
        for tensor in file.tensors { _ = try? file.bytes(tensor.name) }
    }
}
