// A safetensors file: header length, JSON header, offsets and shapes.
import PandaConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    withInputFile(data, size) { _ = try? Safetensors.read($0) }
}
