import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// `panda-run JOB` as a process: exit codes, and resuming after `kill -9`.
@Suite("panda-run jobs, run as processes", .serialized)
struct JobProcessTests {
    static let imagebind = ReferenceModels.imagebind
    static let decoder = ReferenceModels.decoder
    static let adapter = ReferenceModels.adapter

    /// 60 literal texts, each embedded, classified, matched against a gallery and answered about.
    private func writeJob(in directory: TemporaryDirectory) throws -> String {
        let words = ["panda", "bamboo", "river", "mountain", "city", "night", "rain", "forest", "desert", "ocean"]
        let texts = (0..<60).map { "a photo of a \(words[$0 % 10]) number \($0)" }
        let job = """
            models:
              imagebind: \(Self.imagebind)
              decoder: \(Self.decoder)
              adapter: \(Self.adapter)
            inputs:
              notes:
                text: [\(texts.map { "\"\($0)\"" }.joined(separator: ", "))]
              gallery:
                text: ["a panda", "a river", "a city"]
            items: notes
            output: out
            cells:
              words: {encode: text}
              topic:
                classify: {embedding: words, labels: [animal, place, weather]}
              similar:
                retrieve: {embedding: words, from: gallery, kind: text, top: 2}
              answer:
                generate: {embedding: words, prompt: "Is it about {{cells.topic.label}}? {{item.text}}", max_tokens: 6}
              save:
                write: {jsonl: results.jsonl}
            """
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        return directory.file("job.yaml")
    }

    private func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Records as comparable text: ids, statuses and cell results without timings.
    private func comparable(_ path: String) throws -> [String] {
        try lines(path).map { line in
            var record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            record.removeValue(forKey: "seconds")
            var cells = record["cells"] as! [String: Any]
            var answer = cells["answer"] as! [String: Any]
            answer.removeValue(forKey: "seconds")
            cells["answer"] = answer
            record["cells"] = cells
            return String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    @Test("the records are the same bits whatever the batches: items alone, 8 together, answers decoded 16 together")
    func batchesChangeNoRecord() throws {
        var outputs: [[String]] = []
        for arguments in [[], ["--batch-size", "1"], ["--decode-batch", "16"]] {
            let directory = TemporaryDirectory()
            let run = try Executable.run("panda-run", [try writeJob(in: directory), "--quiet", "--threads", "2"] + arguments)
            #expect(run.status == 0, "\(run.stderr)")
            outputs.append(try comparable(directory.file("out/results.jsonl")))
        }
        #expect(outputs[0].count == 60)
        #expect(outputs[1] == outputs[0], "items alone differ from items in batches of 8")
        #expect(outputs[2] == outputs[0], "answers decoded 16 together differ from 8 together")
    }

    @Test("after kill -9 at a random moment, a rerun finishes the job with no lost and no duplicated records")
    func resumesAfterKill() throws {
        let reference = TemporaryDirectory()
        let whole = try Executable.run("panda-run", [try writeJob(in: reference), "--quiet", "--threads", "1"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let expected = try comparable(reference.file("out/results.jsonl"))
        #expect(expected.count == 60)

        let directory = TemporaryDirectory()
        let job = try writeJob(in: directory)
        let log = directory.file("out/.panda/records.jsonl")
        let process = try Executable.start("panda-run", [job, "--quiet", "--threads", "1"])
        let deadline = Date().addingTimeInterval(120)
        while lines(log).count < 10 && Date() < deadline && process.process.isRunning { usleep(20_000) }
        usleep(UInt32.random(in: 0...300_000))
        kill(process.process.processIdentifier, SIGKILL)
        _ = try process.result()
        let before = lines(log).count
        #expect(before >= 10 && before < 60, "killed after \(before) records")

        let resumed = try Executable.run("panda-run", [job, "--progress", "json", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = try #require(resumed.stderr.split(separator: "\n").last)
        #expect(summary.contains("\"skipped\":\(before)"), "\(summary)")
        let records = try comparable(directory.file("out/results.jsonl"))
        #expect(records.count == 60)
        #expect(Set(records).count == 60)
        #expect(records == expected)
        let ids = try lines(log).map { (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["id"] as! String }
        #expect(ids.count == 60 && Set(ids).count == 60)
    }

    @Test("SIGINT and SIGTERM stop a job cleanly: outputs from the committed records, a final word, exit 130 or 143; resuming completes it exactly")
    func interruptsLoseNothing() throws {
        let reference = TemporaryDirectory()
        #expect(try Executable.run("panda-run", [try writeJob(in: reference), "--quiet", "--threads", "1"]).status == 0)
        let expected = try comparable(reference.file("out/results.jsonl"))

        for (signal, progress) in [(SIGINT, "bar"), (SIGTERM, "json")] {
            let directory = TemporaryDirectory()
            let job = try writeJob(in: directory)
            let log = directory.file("out/.panda/records.jsonl")
            let process = try Executable.start("panda-run", [job, "--progress", progress, "--threads", "1"])
            let deadline = Date().addingTimeInterval(120)
            while lines(log).count < 10 && Date() < deadline && process.process.isRunning { usleep(20_000) }
            kill(process.process.processIdentifier, signal)
            let stopped = try process.result()
            #expect(stopped.status == 128 + signal, "\(stopped.stderr)")
            let committed = lines(log).count
            #expect(committed >= 10 && committed < 60, "stopped after \(committed) records")
            // Every output is written, from exactly the committed records; nothing is left marked in flight.
            #expect(lines(directory.file("out/results.jsonl")).count == committed)
            #expect(!FileManager.default.fileExists(atPath: directory.file("out/.panda/in-flight.json")))
            if progress == "json" {
                let last = try #require(stopped.stderr.split(separator: "\n").last)
                #expect(last.contains("\"event\":\"interrupted\"") && last.contains("\"done\":\(committed)") && last.contains("\"signal\":\(signal)"), "\(last)")
            } else {
                #expect(stopped.stderr.contains("interrupted after \(committed) of 60 items; run the same command again to resume\n"), "\(stopped.stderr)")
            }
            let resumed = try Executable.run("panda-run", [job, "--progress", "json", "--threads", "1"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try comparable(directory.file("out/results.jsonl")) == expected)
            // The resumed run says how much was done already, and every event carries its time.
            let events = try resumed.stderr.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            #expect(events.contains { $0["event"] as? String == "note" && $0["message"] as? String == "resuming: \(committed) of 60 items already done" })
            #expect(events.allSatisfy { ($0["time"] as? Double ?? 0) > 1.7e9 })
        }
    }

    @Test("a second SIGINT ends the job at once, without the clean stop's outputs, and a rerun still completes it exactly")
    func secondInterruptQuitsAtOnce() throws {
        let reference = TemporaryDirectory()
        #expect(try Executable.run("panda-run", [try writeJob(in: reference), "--quiet", "--threads", "1"]).status == 0)
        let expected = try comparable(reference.file("out/results.jsonl"))

        let directory = TemporaryDirectory()
        let job = try writeJob(in: directory)
        // All 60 items in one batch: its encode cell runs for a while without a point where a stop can be taken,
        // so the clean stop the first SIGINT asks for cannot finish before the second arrives.
        let process = try Executable.start("panda-run", [job, "--threads", "1", "--batch-size", "60"])
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: directory.file("out/.panda/in-flight.json")) && Date() < deadline && process.process.isRunning { usleep(5_000) }
        kill(process.process.processIdentifier, SIGINT)
        usleep(50_000)
        #expect(process.process.isRunning, "the first SIGINT ended the process")
        kill(process.process.processIdentifier, SIGINT)
        let stopped = try process.result()
        #expect(stopped.status == 130, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("stopping: finishing the item in flight"), "\(stopped.stderr)")
        #expect(!stopped.stderr.contains("interrupted after"), "the clean stop ran: \(stopped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("out/results.jsonl")), "the outputs were written")

        let resumed = try Executable.run("panda-run", [job, "--quiet", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try comparable(directory.file("out/results.jsonl")) == expected)
    }

    @Test("an item that takes the process down (SIGKILL while it is in flight, in its batch and then alone) is recorded as failed and the job finishes")
    func crashingItemIsIsolated() throws {
        let directory = TemporaryDirectory()
        let job = try writeJob(in: directory)
        let inFlight = directory.file("out/.panda/in-flight.json")
        struct InFlight: Decodable { var suspects: [String]; var alone: String? }
        /// Runs the job until `condition` holds for the in-flight file, then kills it as a crash would.
        func crash(when condition: @escaping (InFlight) -> Bool) throws {
            let process = try Executable.start("panda-run", [job, "--quiet", "--threads", "1", "--batch-size", "4"])
            let deadline = Date().addingTimeInterval(120)
            while process.process.isRunning && Date() < deadline {
                if let data = FileManager.default.contents(atPath: inFlight), let state = try? JSONDecoder().decode(InFlight.self, from: data), condition(state) {
                    kill(process.process.processIdentifier, SIGKILL)
                    break
                }
                usleep(1_000)
            }
            let result = try process.result()
            #expect(process.process.terminationReason == .uncaughtSignal && result.status == SIGKILL, "the run was not killed while item 06 was in flight: \(result.stderr)")
        }
        try crash { $0.suspects.contains("06") }  // in its batch of four
        try crash { $0.alone == "06" }  // retried alone
        let finished = try Executable.run("panda-run", [job, "--progress", "json", "--threads", "1"])
        #expect(finished.status == 2, "\(finished.stderr)")  // some items failed
        let records = try lines(directory.file("out/results.jsonl")).map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.count == 60)
        let failed = records.filter { $0["status"] as? String == "error" }
        #expect(failed.map { $0["id"] as? String } == ["06"])
        let message = (failed.first?["error"] as? [String: String])?["message"] ?? ""
        #expect(message.hasPrefix("crashed the process"), "\(failed)")
        #expect(!FileManager.default.fileExists(atPath: inFlight))
    }

    /// What headless Chromium (Debian's `chromium`, installed by .ci/install) makes of a page after its scripts ran.
    private func renderedDOM(_ page: String, screenshot: String? = nil) throws -> String {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let chromium else {
            Issue.record("Chromium is not installed (apt-get install chromium, as .ci/install does): the report cannot be checked in a browser")
            return ""
        }
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000", "--window-size=1200,900"]
        if let screenshot {
            let shot = Process()
            shot.executableURL = URL(fileURLWithPath: chromium)
            shot.arguments = common + ["--screenshot=\(screenshot)", "file://" + page]
            shot.standardError = FileHandle.nullDevice
            shot.standardOutput = FileHandle.nullDevice
            try shot.run()
            shot.waitUntilExit()
        }
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: chromium)
        dump.arguments = common + ["--dump-dom", "file://" + page]
        let out = Pipe()
        dump.standardOutput = out
        dump.standardError = FileHandle.nullDevice
        try dump.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        dump.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("the report in a browser: failures listed first and linked, every picture loads, and with embed_media it still does once moved")
    func reportInABrowser() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("images"), withIntermediateDirectories: true)
        for (source, target) in [("photo.jpg", "good.jpg"), ("gray-portrait.jpg", "portrait.jpg"), ("not-an-image.jpg", "bad.jpg")] {
            try FileManager.default.copyItem(atPath: Reference.path("../media/" + source), toPath: directory.file("images/" + target))
        }
        let job = """
            models: {imagebind: \(Self.imagebind)}
            inputs:
              photos: {image: images}
            output: out
            cells:
              picture: {encode: image}
              kind: {classify: {embedding: picture, labels: [a panda, a person, a landscape]}}
              similar: {retrieve: {embedding: picture, from: photos, kind: image, top: 2}}
              save: {write: {jsonl: out.jsonl, report: report.html}}
              mail: {write: {report: {file: mailable.html, embed_media: true}}}
            """
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let run = try Executable.run("panda-run", [directory.file("job.yaml"), "--quiet"])
        #expect(run.status == 2, "\(run.stderr)")

        let shot = directory.file("report.png")
        let dom = try renderedDOM(directory.file("out/report.html"), screenshot: shot)
        #expect(dom.contains("<section id=\"failures\">") && dom.contains("href=\"#item-bad\""))
        let rows = dom.components(separatedBy: "<tr id=").dropFirst()
        #expect(rows.count == 3 && rows.first?.hasPrefix("\"item-bad\" data-status=\"error\"") == true, "failures come first")
        // Every picture of the items that succeeded loads (the failed item's file is no picture at all).
        let ok = rows.filter { $0.contains("data-status=\"ok\"") }
        #expect(ok.count == 2 && ok.allSatisfy { $0.contains("<img") && !$0.contains("class=\"missing\"") }, "every picture loads")
        #expect(((try? FileManager.default.attributesOfItem(atPath: shot)[.size]) as? NSNumber)?.intValue ?? 0 > 10_000)

        // Moved away from the media: the linked report marks its pictures as missing, the self-contained one needs none.
        let elsewhere = TemporaryDirectory()
        for name in ["report.html", "mailable.html"] { try FileManager.default.copyItem(atPath: directory.file("out/" + name), toPath: elsewhere.file(name)) }
        #expect(try renderedDOM(elsewhere.file("report.html")).contains("class=\"missing\""))
        let mailed = try renderedDOM(elsewhere.file("mailable.html"))
        let mailedRows = mailed.components(separatedBy: "<tr id=").dropFirst().filter { $0.contains("data-status=\"ok\"") }
        #expect(mailed.contains("src=\"data:image/jpeg;base64,") && mailedRows.count == 2 && mailedRows.allSatisfy { !$0.contains("class=\"missing\"") })
    }

    @Test("exit status: 0 when every item succeeds, 2 when some fail, 1 with file:line:column for a broken job")
    func exitStatuses() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("images"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Reference.path("../media/photo.jpg"), toPath: directory.file("images/good.jpg"))
        try FileManager.default.copyItem(atPath: Reference.path("../media/not-an-image.jpg"), toPath: directory.file("images/bad.jpg"))
        let job = """
            models: {imagebind: \(Self.imagebind)}
            inputs:
              photos: {image: images}
            cells:
              picture: {encode: image}
              save: {write: {jsonl: out.jsonl}}
            """
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let partial = try Executable.run("panda-run", [directory.file("job.yaml"), "--quiet"])
        #expect(partial.status == 2)
        #expect(partial.stderr.hasPrefix("✗ bad: "), "--quiet still names failures: \(partial.stderr)")
        try FileManager.default.removeItem(atPath: directory.file("images/bad.jpg"))
        #expect(try Executable.run("panda-run", [directory.file("job.yaml"), "--quiet"]).status == 0)

        try job.replacingOccurrences(of: "encode: image", with: "encode: imag").write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let broken = try Executable.run("panda-run", ["validate", directory.file("job.yaml")])
        #expect(broken.status == 1)
        #expect(broken.stderr == "\(directory.file("job.yaml")):5:21: encode: unknown kind 'imag' (did you mean 'image'?); kinds: image, video, audio, text, depth, thermal, imu\n")
    }
}

/// The example jobs in Jobs/, run as the README runs them, on the committed demo models and media; the answers
/// are checked against what the media really show (Jobs/media/labels.json).
@Suite("Example jobs")
struct ExampleJobTests {
    static let repository = repositoryRoot
    let labels = try! JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: repository + "/Jobs/media/labels.json")))
    let scratch = TemporaryDirectory()

    /// Runs a job from a copy of Jobs/ (sidecars are written next to the media) and returns its records by id.
    private func run(_ job: String, output: String) throws -> [String: [String: Any]] {
        let jobs = scratch.file("Jobs")
        if !FileManager.default.fileExists(atPath: jobs) {
            try FileManager.default.copyItem(atPath: Self.repository + "/Jobs", toPath: jobs)
            // As a fresh clone has it: without the outputs and sidecar captions of runs in the working tree.
            try? FileManager.default.removeItem(atPath: jobs + "/out")
            for name in try FileManager.default.contentsOfDirectory(atPath: jobs + "/media/photos") where name.hasSuffix(".txt") {
                try FileManager.default.removeItem(atPath: jobs + "/media/photos/" + name)
            }
            try FileManager.default.createSymbolicLink(atPath: scratch.file("Weights"), withDestinationPath: Self.repository + "/Weights")
        }
        let validate = try Executable.run("panda-run", ["validate", "\(jobs)/\(job).yaml"])
        #expect(validate.status == 0, "\(validate.stderr)")
        let result = try Executable.run("panda-run", ["\(jobs)/\(job).yaml", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        try expectRecordedOutputs(of: job)
        let text = try String(contentsOfFile: "\(jobs)/out/\(job)/\(output)", encoding: .utf8)
        var records: [String: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            records[record["id"] as! String] = record["cells"] as? [String: Any]
        }
        return records
    }

    /// The job's JSON lines, CSV and `.npy` outputs are the ones recorded in Tests/Fixtures/jobs/JOB (written by
    /// `panda-run Jobs/JOB.yaml` from the repository's root), timings aside and numbers to float rounding, so a
    /// change to the runner cannot change what a job writes unnoticed.
    private func expectRecordedOutputs(of job: String) throws {
        let recorded = fixture("jobs/\(job)")
        let written = scratch.file("Jobs/out/\(job)")
        for name in try FileManager.default.contentsOfDirectory(atPath: recorded).sorted() {
            let path = "\(written)/\(name)"
            if name.hasSuffix(".npy") {
                let (expected, actual) = (try NPYArray(path: "\(recorded)/\(name)"), try NPYArray(path: path))
                #expect(expected.shape == actual.shape && maxAbsoluteDifference(expected.values, actual.values) <= 1e-5, "\(name)")
                continue
            }
            // Paths in outputs are relative to the job's folder: this run, from another folder with an absolute job
            // path, writes what the recorded run from the repository's root with `Jobs/JOB.yaml` wrote.
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let expected = try String(contentsOfFile: "\(recorded)/\(name)", encoding: .utf8)
            if name.hasSuffix(".jsonl") {
                let (a, b) = (try jsonLines(expected), try jsonLines(text))
                #expect(a.count == b.count && zip(a, b).allSatisfy { sameJSON($0, $1) }, "\(job)/\(name) differs from the recorded output:\n\(text)")
            } else {
                #expect(text == expected, "\(job)/\(name)")
            }
        }
    }

    private func text(_ cells: [String: Any]?, _ cell: String) -> String {
        let output = cells?[cell] as? [String: Any]
        return (output?["text"] as? String ?? output?["label"] as? String ?? "").lowercased()
    }

    @Test("story.yaml: each scene's picture, tone and picture + tone are described truly")
    func story() throws {
        let records = try run("story", output: "story.jsonl")
        #expect(records.count == 3)
        for (id, cells) in records {
            let picture = labels["scenes/images/\(id).png"]!, sound = labels["scenes/sounds/\(id).wav"]!
            #expect(text(cells, "seen") == "a \(picture).", "\(id)")
            #expect(text(cells, "heard") == "a \(sound) tone.", "\(id)")
            #expect(text(cells, "whole") == "a \(picture) and a \(sound) tone.", "\(id)")
            #expect(text(cells, "shape") == "a \(picture)", "\(id)")
        }
        let report = try String(contentsOfFile: scratch.file("Jobs/out/story/report.html"), encoding: .utf8)
        #expect(report.contains("<img src=\"../../media/scenes/images/scene-0.png\"") && report.contains("<audio src=\"../../media/scenes/sounds/scene-0.wav\""))
    }

    @Test("caption.yaml: captions name the right colour and shape for at least 7 of the 8 pictures, beside each picture too")
    func caption() throws {
        let records = try run("caption", output: "captions.jsonl")
        #expect(records.count == 8)
        let right = records.filter { id, cells in text(cells, "caption") == "a \(labels["photos/\(id).png"]!)." }.count
        #expect(right >= 7, "\(right) of 8")
        let sidecar = try String(contentsOfFile: scratch.file("Jobs/media/photos/photo-07.txt"), encoding: .utf8)
        #expect(sidecar == text(records["photo-07"], "caption").capitalizedFirst + "\n")
        #expect(FileManager.default.fileExists(atPath: scratch.file("Jobs/out/caption/embeddings.npy")))
    }

    @Test("arithmetic.yaml: a picture seen as a circle, minus 'a green circle' plus 'a green square', is a square of its colour")
    func arithmetic() throws {
        let records = try run("arithmetic", output: "arithmetic.jsonl")
        let circles = records.filter { text($0.value, "before").hasSuffix("circle.") }
        #expect(circles.count >= 3)
        for (id, cells) in circles {
            let colour = text(cells, "before").split(separator: " ")[1]
            #expect(text(cells, "after_label") == "a \(colour) square", "\(id)")
        }
    }

    @Test("combine works on unit vectors: the red square − text('red') + text('blue') finds the blue square; with raw() the texts drown every picture")
    func arithmeticOnUnitVectors() throws {
        let job = """
            models: {imagebind: \(Self.repository)/Weights/tiny-imagebind.panda}
            inputs:
              photos: {image: \(Self.repository)/Jobs/media/photos}
            output: out
            cells:
              picture: {encode: image}
              unit: {combine: picture - text("red") + text("blue")}
              scaled: {combine: raw(picture) - raw(text("red")) + raw(text("blue"))}
              near_unit: {retrieve: {embedding: unit, from: photos, kind: image, top: 1}}
              near_scaled: {retrieve: {embedding: scaled, from: photos, kind: image, top: 1}}
              save: {write: {csv: out.csv}}
            """
        try job.write(toFile: scratch.file("job.yaml"), atomically: true, encoding: .utf8)
        let result = try Executable.run("panda-run", [scratch.file("job.yaml"), "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try String(contentsOfFile: scratch.file("out/out.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        let redSquare = try #require(labels.first { $0.value == "red square" }?.key).replacingOccurrences(of: "photos/", with: "").replacingOccurrences(of: ".png", with: "")
        let blueSquare = try #require(labels.first { $0.value == "blue square" }?.key).replacingOccurrences(of: "photos/", with: "").replacingOccurrences(of: ".png", with: "")
        let row = try #require(rows.first { $0[0] == redSquare })
        #expect(row[3] == blueSquare)
        #expect(Set(rows.map { $0[4] }).count == 1, "at ImageBind's own scale every picture has the same neighbour")
    }

    @Test("retrieval.yaml: a description of a picture in the folder finds that picture first")
    func retrieval() throws {
        let records = try run("retrieval", output: "matches.jsonl")
        let queries = ["1": "red circle", "2": "blue triangle", "3": "yellow square", "4": "green square"]
        for (id, query) in queries {
            guard let exact = labels.first(where: { $0.key.hasPrefix("photos/") && $0.value == query })?.key else { continue }
            let neighbours = ((records[id]?["matches"] as? [String: Any])?["neighbours"] as? [[String: Any]]) ?? []
            #expect(neighbours.first?["id"] as? String == (exact as NSString).lastPathComponent.replacingOccurrences(of: ".png", with: ""), "\(query)")
        }
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
