import Foundation
import PandaFormat
import PandaMedia
import PandaModels

/// What a file (or a literal text) is, from ImageBind's point of view. Images and videos both go to the vision
/// encoder; they are kept apart because their inputs have different shapes.
public enum MediaKind: String, Codable, CaseIterable, Sendable {
    case image, video, audio, text, depth, thermal, imu

    public var modality: Modality {
        switch self {
        case .image, .video: .vision
        case .audio: .audio
        case .text: .text
        case .depth: .depth
        case .thermal: .thermal
        case .imu: .imu
        }
    }

    /// The extensions recognized for each kind when reading folders (lower case, without the dot).
    public var extensions: Set<String> {
        switch self {
        case .image: ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]
        case .video: ["mp4", "mkv", "webm", "mov", "avi", "m4v"]
        case .audio: ["wav", "flac", "ogg", "mp3", "m4a", "aac", "aiff", "aif", "opus"]
        case .text: ["txt"]
        case .depth: ["png", "tif", "tiff", "npy"]
        case .thermal: ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"]
        case .imu: ["npy", "csv"]
        }
    }

    /// One item's model input without the batch axis, as preprocessing makes it: the shape a `.npy` file of
    /// already-preprocessed input must have.
    var itemShape: [Int] {
        switch self {
        case .image: [3, 224, 224]
        case .video: [VideoPreprocessing.clipsPerVideo * 3, 3, 2, 224, 224]
        case .audio: [AudioPreprocessing.clipsPerItem, 1, AudioPreprocessing.melBins, AudioPreprocessing.targetFrames]
        case .depth, .thermal: [1, 224, 224]
        case .imu: [6, 2000]
        case .text: [77]
        }
    }
}

/// The preprocessed model input of one item.
public enum PreparedInput: Sendable {
    /// Float input of the kind's item shape (audio: any number of clips).
    case tensor(MediaKind, FloatTensor)
    /// Text, tokenized later with the model's CLIP vocabulary.
    case text(String)

    public var kind: MediaKind {
        switch self {
        case .tensor(let kind, _): kind
        case .text: .text
        }
    }
}

public enum MediaInput {
    /// Reads and preprocesses one file as ImageBind's data.py would (PandaGPT's data.py for thermal). A `.npy` file
    /// is the preprocessed input itself, of the item's shape or with a leading batch axis (several items).
    public static func prepare(_ kind: MediaKind, path: String) throws -> [PreparedInput] {
        if path.lowercased().hasSuffix(".npy") && kind != .text {
            let array = try NPYArray(path: path)
            // Depth and IMU arrays without a batch axis go through their own rules (2-D depth, short IMU padding).
            let batched = array.shape.count == kind.itemShape.count + 1
            if batched || (kind != .depth && kind != .imu) { return try items(of: array, kind: kind, path: path) }
        }
        let tensor: FloatTensor
        switch kind {
        case .image: tensor = try VisionPreprocessing.tensor(ImageDecoder.decode(path: path))
        case .thermal: tensor = try ThermalPreprocessing.tensor(ImageDecoder.decode(path: path))
        case .video: tensor = try VideoPreprocessing.tensor(path: path)
        case .audio: tensor = try AudioPreprocessing.clips(path: path)
        case .depth: tensor = try DepthPreprocessing.tensor(path: path)
        case .imu: tensor = try IMUPreprocessing.tensor(path: path)
        case .text:
            guard let data = FileManager.default.contents(atPath: path) else { throw MediaError.fileNotFound(path: path) }
            guard let text = String(data: data, encoding: .utf8) else { throw MediaError.unreadable(path: path, reason: "the text is not UTF-8") }
            return [.text(text.trimmingCharacters(in: .whitespacesAndNewlines))]
        }
        return [.tensor(kind, tensor)]
    }

    /// The items of a preprocessed array: [item…] or [B, item…]; audio items are [clips, 1, 128, 204].
    static func items(of array: NPYArray, kind: MediaKind, path: String) throws -> [PreparedInput] {
        let item = kind == .audio ? Array(kind.itemShape.dropFirst()) : kind.itemShape
        let extraAxes = kind == .audio ? 1 : 0  // the clip axis
        var shape = array.shape
        if shape.count == item.count + extraAxes { shape.insert(1, at: 0) }
        guard shape.count == item.count + extraAxes + 1, Array(shape.suffix(item.count)) == item, shape.allSatisfy({ $0 > 0 }) else {
            let expected = kind == .audio ? "[clips, 1, 128, 204]" : "\(kind.itemShape)"
            throw MediaError.unsupported(
                path: path, reason: "a preprocessed \(kind.rawValue) array must be \(expected), optionally with a leading batch axis; found \(array.shape)")
        }
        let batch = FloatTensor(shape: shape, values: array.values)
        return (0..<shape[0]).map { .tensor(kind, batch.item($0)) }
    }
}
