import Foundation
@testable import PandaJobs
import PandaTestSupport
import Testing

/// Every file that matches an input is an item or is listed, with the reason, by `plan` (and `JobPlan.skippedFiles`).
@Suite("Input folders: no file vanishes and none can block planning or the run")
struct InputFolderTests {
    let directory = TemporaryDirectory()

    init() throws {
        for folder in ["images", "sounds", "models"] { try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true) }
        try FileManager.default.createSymbolicLink(atPath: directory.file("models/imagebind.panda"), withDestinationPath: repositoryRoot + "/Weights/tiny-imagebind.panda")
    }

    private func touch(_ names: [String]) {
        for name in names { #expect(FileManager.default.createFile(atPath: directory.file(name), contents: Data([1]))) }
    }

    /// The plan of a job with one input, `inputs` given as its YAML lines, and one encode cell of `kind`.
    private func plan(_ inputs: String, encoding kind: String = "image") throws -> JobPlan {
        let path = directory.file("job.yaml")
        try """
            models:
              imagebind: models/imagebind.panda
            inputs:
              things:
            \(inputs)
            cells:
              vector: {encode: \(kind)}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try JobPlan(JobFile.load(path: path))
    }

    private func skipped(_ plan: JobPlan) -> [String] {
        plan.skippedFiles.map { "\(($0.file.path as NSString).lastPathComponent): \($0.file.reasonText)" }
    }

    @Test("a FIFO, a folder named like a picture and a hidden picture are skipped with the reason; the FIFO is never opened")
    func specialFilesSkipped() throws {
        touch(["images/b.jpg", "images/.a.jpg", "images/notes.txt"])
        #expect(mkfifo(directory.file("images/live.jpg"), 0o600) == 0)
        try FileManager.default.createDirectory(atPath: directory.file("images/album.jpg"), withIntermediateDirectories: false)
        let plan = try plan("    image: images")
        #expect(plan.items.map(\.id) == ["b"])
        #expect(skipped(plan) == [
            ".a.jpg: hidden (the name starts with '.')", "album.jpg: is a folder, not a regular file", "live.jpg: is a FIFO (named pipe), not a regular file",
        ])
        let text = plan.describe()
        #expect(text.contains("input things: 1 items, 3 files skipped") && text.contains("  skipped \(directory.file("images/live.jpg")): is a FIFO (named pipe), not a regular file"), "\(text)")
    }

    @Test("files of one kind that share a stem are separate items named with their extensions; other ids stay stems")
    func sameStemFilesAreItems() throws {
        touch(["images/a.jpg", "images/a.png", "images/b.jpg"])
        #expect(try plan("    image: images").items.map(\.id) == ["a.jpg", "a.png", "b"])
        let sounds = ["x.aiff", "x.flac", "x.m4a", "x.mp3", "x.ogg", "x.opus", "y.wav"]
        touch(sounds.map { "sounds/" + $0 })
        let plan = try plan("    audio: sounds", encoding: "audio")
        #expect(plan.items.map(\.id) == Array(sounds.dropLast()) + ["y"])
        #expect(plan.items.map { ($0.primaryFile! as NSString).lastPathComponent } == sounds)
        #expect(plan.skippedFiles.isEmpty)
    }

    @Test("in a paired input, a stem with two files of one kind is skipped with their names, and the other stems pair as before")
    func sameStemCannotPair() throws {
        touch(["images/a.jpg", "images/a.png", "images/b.jpg", "images/c.jpg", "sounds/a.wav", "sounds/b.wav"])
        let plan = try plan("    image: images\n    audio: sounds")
        #expect(plan.items.map(\.id) == ["b"])
        #expect(skipped(plan) == [
            "a.jpg: a.jpg, a.png share a stem, so pairing by stem cannot tell them apart",
            "a.png: a.jpg, a.png share a stem, so pairing by stem cannot tell them apart",
            "c.jpg: no audio file has the same stem",
            "a.wav: a.jpg, a.png share a stem, so pairing by stem cannot tell them apart",
        ])
    }

    @Test("a manifest record naming a FIFO is left out at planning, naming the item")
    func manifestFIFO() throws {
        touch(["images/a.jpg"])
        #expect(mkfifo(directory.file("images/live.jpg"), 0o600) == 0)
        try "{\"id\": \"one\", \"image\": \"images/a.jpg\"}\n{\"id\": \"two\", \"image\": \"images/live.jpg\"}\n"
            .write(toFile: directory.file("items.jsonl"), atomically: true, encoding: .utf8)
        let plan = try plan("    manifest: items.jsonl")
        #expect(plan.items.map(\.id) == ["one"])
        #expect(skipped(plan) == ["live.jpg: is a FIFO (named pipe), not a regular file (item 'two' left out)"])
    }
}
