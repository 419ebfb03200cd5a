import Foundation

/// Writes a mono WAV of Yamaha ADPCM (format tag 0x0020), which libsndfile refuses and FFmpeg decodes, so the sound
/// goes through FFmpeg; any bytes are valid ADPCM, so `seconds` of it are written quickly (pseudo-random nibbles,
/// `rate` / 2 bytes a second), in blocks of 1 MiB.
public func writeYamahaADPCMWAV(_ path: String, seconds: Int, rate: Int) throws {
    let dataBytes = seconds * rate / 2
    var header = Data("RIFF".utf8)
    func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
    append(UInt32(36 + dataBytes))
    header.append(contentsOf: Array("WAVEfmt ".utf8))
    append(UInt32(16)); append(UInt16(0x0020)); append(UInt16(1)); append(UInt32(rate)); append(UInt32(rate / 2)); append(UInt16(1)); append(UInt16(4))
    header.append(contentsOf: Array("data".utf8))
    append(UInt32(dataBytes))
    guard FileManager.default.createFile(atPath: path, contents: header), let file = FileHandle(forWritingAtPath: path) else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
    defer { try? file.close() }
    try file.seekToEnd()
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    let block = Data((0..<(1 << 20)).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    })
    var left = dataBytes
    while left > 0 {
        try file.write(contentsOf: block.prefix(left))
        left -= min(left, block.count)
    }
}
