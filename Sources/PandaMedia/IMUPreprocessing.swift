import Foundation
import PandaFormat

/// ImageBind's IMU input: 6 channels (accelerometer x, y, z, then gyroscope x, y, z) by 2000 samples, row-major
/// (channel-major): `tensor[channel * 2000 + sample]`. No filtering, rescaling or normalization happens here; the values
/// are the file's, in whatever units it holds (ImageBind was trained on Ego4D's m/s² and rad/s).
///
/// The rule, chosen to be predictable rather than clever:
/// - A `.npy` file (recognized by its `\x93NUMPY` magic, any name) must have shape **[6, N]**: one row per channel.
///   An [N, 6] array is refused (transpose it first), so a [6, 6] array can never be read the wrong way round.
/// - Any other file is read as **CSV**: N lines of 6 comma-separated numbers (ax, ay, az, gx, gy, gz), i.e. [N, 6],
///   transposed here to [6, N]. A first line that is not all numbers is a header and is skipped; blank lines are ignored.
/// - **N == 2000** is taken as is; **N < 2000** is zero-padded at the end of every channel; **N > 2000** is an error
///   asking for the recording to be cut to 2000 samples (which 2000 to keep is the caller's decision, not ours).
/// - N == 0, a channel count other than 6, or a field that is not a number is a `MediaError` naming the file and
///   what was found against what was expected.
public enum IMUPreprocessing {
    public static let channels = 6
    public static let samples = 2000

    /// The [6, 2000] tensor of an IMU recording in a `.npy` or CSV file, by the rule above.
    public static func tensor(path: String) throws -> FloatTensor {
        let data = try MediaFile.read(path)
        let (sampleCount, values): (Int, [Float])
        if data.starts(with: [0x93] + Array("NUMPY".utf8)) {
            let array = try NPYArray(bytes: [UInt8](data), path: path)
            guard array.shape.count == 2, array.shape[0] == channels else {
                let hint = array.shape.count == 2 && array.shape[1] == channels ? " (transpose it to [6, N])" : ""
                throw MediaError.unsupported(
                    path: path,
                    reason: "IMU array has shape \(array.shape), expected [6, N] (accelerometer xyz, gyroscope xyz by samples)\(hint)")
            }
            (sampleCount, values) = (array.shape[1], array.values)
        } else {
            let columns = try csvColumns(String(decoding: data, as: UTF8.self), path: path)
            (sampleCount, values) = (columns[0].count, columns.flatMap { $0 })
        }
        return FloatTensor(shape: [channels, samples], values: try padded(values, sampleCount: sampleCount, path: path))
    }

    /// [6, N] values as [6, 2000]: zero-padded at the end when N < 2000; N > 2000 and N == 0 are errors.
    static func padded(_ values: [Float], sampleCount: Int, path: String) throws -> [Float] {
        guard sampleCount > 0 else { throw MediaError.unreadable(path: path, reason: "the IMU recording holds no samples") }
        guard sampleCount <= samples else {
            throw MediaError.unsupported(
                path: path, reason: "the IMU recording has \(sampleCount) samples, more than ImageBind's \(samples): cut it to \(samples) samples")
        }
        var out = [Float](repeating: 0, count: channels * samples)
        for channel in 0..<channels {
            for sample in 0..<sampleCount { out[channel * samples + sample] = values[channel * sampleCount + sample] }
        }
        return out
    }

    /// Comma-separated rows of six numbers, as six columns. A first line that is not all numbers is a header and is
    /// skipped; blank lines are ignored; any other bad line is an error naming its line number.
    static func csvColumns(_ text: String, path: String) throws -> [[Float]] {
        var columns = [[Float]](repeating: [], count: channels)
        var firstLine = true
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            defer { firstLine = false }
            let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let numbers = fields.map { Float($0) }
            if firstLine && numbers.contains(where: { $0 == nil }) { continue }  // the header
            guard fields.count == channels else {
                throw MediaError.unsupported(
                    path: path,
                    reason: "line \(index + 1) has \(fields.count) columns, expected 6 (ax, ay, az, gx, gy, gz): CSV of shape [N, 6]")
            }
            for (column, number) in numbers.enumerated() {
                guard let number else {
                    throw MediaError.unreadable(path: path, reason: "line \(index + 1), column \(column + 1): '\(fields[column])' is not a number")
                }
                columns[column].append(number)
            }
        }
        return columns
    }
}
