import Foundation
import PandaFormat
@testable import PandaInputs
import PandaMedia
import PandaTestSupport
import Testing

@Suite("Media to model input")
struct MediaInputTests {
    @Test("each kind's preprocessing makes the shape its preprocessed .npy must have, and that .npy gives the same input back",
          arguments: [(MediaKind.image, "media/photo.jpg"), (.thermal, "media/thermal.png"), (.video, "media/clip.mp4"),
                      (.audio, "media/stereo-22k.wav"), (.depth, "media/depth.png"), (.imu, "media/imu.csv")])
    func preprocessedShapeIsTheNPYContract(kind: MediaKind, file: String) throws {
        let prepared = try MediaInput.prepare(kind, path: fixture(file))
        guard prepared.count == 1, case .tensor(let preparedKind, let tensor) = prepared[0] else {
            Issue.record("\(file) prepared as \(prepared.count) inputs, not one tensor")
            return
        }
        #expect(preparedKind == kind)
        #expect(tensor.shape == kind.itemShape)
        let directory = TemporaryDirectory()
        let saved = directory.file("saved.npy")
        try NPYArray(shape: tensor.shape, values: tensor.values).write(to: saved)
        let reloaded = try MediaInput.prepare(kind, path: saved)
        guard reloaded.count == 1, case .tensor(_, let again) = reloaded[0] else {
            Issue.record("the saved .npy prepared as \(reloaded.count) inputs")
            return
        }
        #expect(again == tensor)
    }
}
