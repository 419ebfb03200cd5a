// The restricted unpickler on raw pickle bytes. A thrown error is a refusal, which is the point; a crash, a
// sanitizer report or a timeout is a finding.
@testable import PandaConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var unpickler = RestrictedUnpickler(UnsafeRawBufferPointer(start: data, count: size))
    _ = try? unpickler.run()
    return 0
}
