import ArgumentParser
import Foundation
import PandaInputs
import PandaMedia

/// The media flags shared by `embed`, `ask` and `chat`: files per modality, in the order given.
struct MediaOptions: ParsableArguments {
    @Option(name: .customLong("image"), help: ArgumentHelp("An image (JPEG, PNG, WebP, BMP, TIFF, GIF).", valueName: "file"))
    var images: [String] = []

    @Option(name: .customLong("video"), help: ArgumentHelp("A video (mp4, mkv, webm, mov): 5 clips × 3 crops, averaged.", valueName: "file"))
    var videos: [String] = []

    @Option(name: .customLong("audio"), help: ArgumentHelp("A sound (WAV, FLAC, Ogg, MP3, AAC/M4A): 3 two-second clips, averaged.", valueName: "file"))
    var audios: [String] = []

    @Option(name: .customLong("depth"), help: ArgumentHelp("A depth map: 16-bit PNG in millimetres, or a .npy disparity map.", valueName: "file"))
    var depths: [String] = []

    @Option(name: .customLong("thermal"), help: ArgumentHelp("A thermal image (read as greyscale).", valueName: "file"))
    var thermals: [String] = []

    @Option(name: .customLong("imu"), help: ArgumentHelp("IMU readings: .npy [6, N] or CSV with 6 columns, N ≤ 2000.", valueName: "file"))
    var imus: [String] = []

    @OptionGroup var limits: ImageLimitOptions

    /// Every file with its kind, images before videos, then the other modalities in the flags' order.
    var files: [(kind: MediaKind, path: String)] {
        images.map { (.image, $0) } + videos.map { (.video, $0) } + audios.map { (.audio, $0) } + depths.map { (.depth, $0) }
            + thermals.map { (.thermal, $0) } + imus.map { (.imu, $0) }
    }

    /// Every file read and preprocessed, in the order of `files`.
    func prepared() throws -> [PreparedInput] {
        limits.apply()
        return try files.flatMap { try MediaInput.prepare($0.kind, path: $0.path) }
    }
}

/// `--max-image-pixels`, for the commands that decode pictures and videos.
struct ImageLimitOptions: ParsableArguments {
    @Option(
        name: .customLong("max-image-pixels"),
        help: "Refuse pictures and video frames whose header declares more pixels (default 89478485, or $PANDA_MAX_IMAGE_PIXELS).")
    var maxImagePixels: Int?

    func validate() throws {
        if let maxImagePixels, maxImagePixels <= 0 { throw ValidationError("--max-image-pixels must be positive") }
    }

    /// The media readers take their limit from the environment, where a job's readers find it too; so the flag sets it.
    func apply() {
        if let maxImagePixels { setenv(ImageLimits.environmentVariable, String(maxImagePixels), 1) }
    }
}

/// How a command's errors are printed.
enum ErrorStyle {
    /// `panda-run: message` on stderr.
    case prefixed
    /// The message alone on stderr: a job's problems are FILE:LINE:COLUMN lines, as compilers print them.
    case located
    /// `{"error": "message"}` on stdout, for scripts that asked for JSON output.
    case json
}

/// A command whose errors are not printed in the default style.
protocol ReportsErrors {
    var errorStyle: ErrorStyle { get }
}

enum CommandErrors {
    static func report(_ error: Error, style: ErrorStyle) -> ExitCode {
        let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
        switch style {
        case .json:
            if let data = try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys, .withoutEscapingSlashes]) {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
        case .prefixed: FileHandle.standardError.write(Data(("panda-run: " + message + "\n").utf8))
        case .located: FileHandle.standardError.write(Data((message + "\n").utf8))
        }
        return ExitCode.failure
    }
}
