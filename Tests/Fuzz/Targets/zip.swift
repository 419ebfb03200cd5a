// A PyTorch zip checkpoint end to end: zip directory, entries, data.pkl through the unpickler, tensors.
import PandaConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    withInputFile(data, size) { _ = try? TorchCheckpoint.read($0) }
}
