// A .panda file: header, index checksum, metadata and tensor table; then every tensor's bytes are read, so
// that what validation let through is also used. Built with SEAL_INDEX (target panda-sealed), each input first
// gets a header that agrees with it — its length, the table's length and the index checksum — since a mutated
// file almost never keeps its checksum, and the metadata and table parsers behind it would go unexplored.
import Foundation
@testable import PandaFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    #if SEAL_INDEX
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    seal(&bytes)
    return withInputFile(bytes, bytes.count, readWeights)
    #else
    return withInputFile(data, size, readWeights)
    #endif
}

/// Reads a tensor only up to 256 MiB decoded: a zstd tensor's bytes are allocated at its declared size, which a few
/// bytes of table can set to terabytes (one entry per 4 GiB chunk), as loading a model allocates its tensors.
func readWeights(_ path: String) {
    guard let file = try? WeightFile(path: path) else { return }
    _ = file.verify()
    for tensor in file.tensors where tensor.byteCount <= 1 << 28 { _ = try? file.bytes(tensor.name) }
}

/// Sets the header's file length, table length and index checksum to what the bytes hold, where the index offset
/// and metadata length leave room for a table.
func seal(_ bytes: inout [UInt8]) {
    guard bytes.count >= FileHeader.size else { return }
    func field(_ offset: Int) -> UInt64 { bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    func set(_ offset: Int, _ value: UInt64) { for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) } }
    let size = UInt64(bytes.count), indexOffset = field(24), metadataLength = field(32)
    set(16, size)
    guard indexOffset >= UInt64(FileHeader.size), indexOffset <= size, metadataLength <= size - indexOffset else { return }
    set(40, size - indexOffset - metadataLength)
    let checksum = bytes.withUnsafeBytes { FileHeader.checksum(headerPrefix: Array(bytes[0..<48]), index: UnsafeRawBufferPointer(rebasing: $0[Int(indexOffset)...])) }
    set(48, checksum)
}

/// With PANDA_FUZZ_SEEDS=DIR, writes small valid files there (raw and zstd-chunked tensors of several dtypes, an
/// embedded tokenizer) and exits: the model files in Weights/ are megabytes, past the fuzzer's -max_len.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["PANDA_FUZZ_SEEDS"] else { return 0 }
    do {
        var options = WeightFileWriter.Options()
        options.zstdChunkBytes = 256
        options.rawChunkBytes = 512
        let writer = try WeightFileWriter(path: directory + "/two-storages.panda", options: options)
        let floats = (0..<300).map { Float($0 % 17) / 4 }
        try floats.withUnsafeBytes { try writer.add(name: "w.raw", dtype: .f32, shape: [30, 10], bytes: $0) }
        try floats.withUnsafeBytes { try writer.add(name: "w.zstd", dtype: .f32, shape: [300], storage: .zstd, shuffle: true, bytes: $0) }
        let blocks = [UInt8](repeating: 0x3C, count: 18 * 4)  // four q4_0 blocks of 32 values
        try blocks.withUnsafeBytes { try writer.add(name: "q", dtype: .q4_0, shape: [4, 32], storage: .zstd, bytes: $0) }
        try writer.finish(metadata: WeightMetadata(
            family: "llama", config: .object(["hidden_size": .int(10), "vocab_size": .int(30)]),
            tokenizers: ["sentencepiece": EmbeddedFile(name: "tokenizer.model", data: Data("pieces".utf8))]))
        let small = try WeightFileWriter(path: directory + "/one-tensor.panda")
        try [Int32](repeating: 7, count: 6).withUnsafeBytes { try small.add(name: "ids", dtype: .i32, shape: [2, 3], bytes: $0) }
        try small.finish(metadata: WeightMetadata(family: "imagebind"))
    } catch {
        print("fuzz-panda: cannot write seeds: \(error)")
        exit(1)
    }
    exit(0)
}
