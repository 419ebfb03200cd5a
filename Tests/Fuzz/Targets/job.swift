// A job file's text: YAML, the job's structure and every field's type and value (`JobFile.parse`), then the
// checks between cells that need no files (references, their types, cycles). Resolving inputs and models
// touches the file system and is left out.
@testable import PandaJobs

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let job = try? JobFile.parse(text, path: "/nonexistent/fuzz.yaml") else { return 0 }
    var checks = JobChecks(job: job)
    _ = checks.order(checks.cellDependencies())
    return 0
}
