import Foundation
import PandaConvert
import PandaTestSupport
import Testing

@Suite("Reading PyTorch and safetensors checkpoints")
struct CheckpointReaderTests {
    @Test("torch.save files (pickle protocols 2 and 4) read back every tensor exactly", arguments: ["state-protocol2.pt", "state-protocol4.pt"])
    func torchCheckpointValues(file: String) throws {
        let contents = try TorchCheckpoint.read(fixture("checkpoints/\(file)"))
        let expected = try expectedCheckpointTensors()
        let byName = Dictionary(uniqueKeysWithValues: contents.tensors.map { ($0.name, $0) })
        #expect(Set(byName.keys) == Set(expected.keys))
        for (name, reference) in expected {
            let tensor = try #require(byName[name], "\(name)")
            #expect(tensor.shape == reference.shape, "\(name)")
            if tensor.dtype.isFloatingPoint {
                #expect(tensor.allFloats == reference.values.map { Float($0) }, "\(name)")
            } else {
                let bytes = try #require(tensor.contiguousBytes)
                #expect(bytes.withMemoryRebound(to: Int64.self) { Array($0) } == reference.values.map { Int64($0) })
            }
        }
        #expect(contents.nonTensorKeys == ["epoch"])
    }

    @Test("dtypes, shared storages, transposed and offset views are understood without copying")
    func viewsAndSharing() throws {
        let contents = try TorchCheckpoint.read(fixture("checkpoints/state-protocol2.pt"))
        let byName = Dictionary(uniqueKeysWithValues: contents.tensors.map { ($0.name, $0) })
        #expect(byName["b.f16"]?.dtype == .f16)
        #expect(byName["c.bf16"]?.dtype == .bf16)
        #expect(byName["ids"]?.dtype == .i64)
        let x = try #require(byName["tied.x"])
        let y = try #require(byName["tied.y"])
        #expect(x.storageOffset == y.storageOffset)
        let base = try #require(byName["base"])
        let transposed = try #require(byName["base.transposed"])
        #expect(!transposed.isContiguous)
        #expect(transposed.storageOffset == base.storageOffset)
        #expect(transposed.strides == [1, 6])
        #expect(transposed.allFloats == base.transposed().allFloats)
        let sliced = try #require(byName["sliced"])
        #expect(sliced.elementOffset == 6)
        #expect(sliced.storageElements == 30)
        #expect(byName["scalar"]?.shape == [])
    }

    @Test("strided reads starting mid-row agree with reading the whole tensor")
    func partialStridedReads() throws {
        let contents = try TorchCheckpoint.read(fixture("checkpoints/state-protocol2.pt"))
        let transposed = try #require(contents.tensors.first { $0.name == "base.transposed" })
        let whole = transposed.allFloats
        for start in 0..<whole.count {
            for count in 0...(whole.count - start) {
                var part = [Float](repeating: .nan, count: count)
                part.withUnsafeMutableBufferPointer { transposed.readFloats(from: start, count: count, into: $0.baseAddress!) }
                #expect(part == Array(whole[start..<(start + count)]))
            }
        }
    }

    @Test("safetensors files read back the same tensors")
    func safetensorsValues() throws {
        let contents = try Safetensors.read(fixture("checkpoints/state.safetensors"))
        let expected = try expectedCheckpointTensors()
        #expect(contents.tensors.count == expected.count - 2)  // tied.y is stored once; the nested inner.w is not written
        for tensor in contents.tensors where tensor.dtype.isFloatingPoint {
            let reference = try #require(expected[tensor.name])
            #expect(tensor.shape == reference.shape)
            #expect(tensor.allFloats == reference.values.map { Float($0) }, "\(tensor.name)")
        }
    }

    @Test("a pickle naming a forbidden global is refused by name, and nothing runs", arguments: [
        ("evil-os-system.pt", "posix.system"),
        ("evil-eval.pt", "builtins.eval"),
        ("evil-subprocess.pt", "subprocess.Popen"),
    ])
    func forbiddenGlobals(file: String, global: String) throws {
        let marker = "/tmp/panda-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        let path = fixture("checkpoints/\(file)")
        #expect(throws: ConvertError.forbiddenGlobal(path: path, global: global)) { try TorchCheckpoint.read(path) }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a legacy torch file gets an error saying how to re-save it")
    func legacyFormat() throws {
        let path = fixture("checkpoints/legacy.pt")
        #expect(throws: ConvertError.legacyTorchFormat(path: path)) { try TorchCheckpoint.read(path) }
        #expect(ConvertError.legacyTorchFormat(path: path).localizedDescription.contains("torch.save(torch.load("))
    }

    @Test("a truncated zip checkpoint is reported as truncated")
    func truncatedZip() throws {
        let path = fixture("checkpoints/truncated.pt")
        let error = try #require(throws: ConvertError.self) { try TorchCheckpoint.read(path) }
        #expect(error.localizedDescription.hasPrefix(path + ": truncated zip archive"))
    }

    @Test("missing files and foreign files are named in the error")
    func wrongFiles() throws {
        #expect(throws: (any Error).self) { try TorchCheckpoint.read("/nonexistent.pt") }
        let json = fixture("checkpoints/state.expected.json")
        #expect(throws: ConvertError.unreadableCheckpoint(path: json, reason: "not a PyTorch checkpoint (neither a zip archive nor a legacy torch file)")) {
            try TorchCheckpoint.read(json)
        }
        let error = try #require(throws: ConvertError.self) { try Safetensors.read(json) }
        #expect(error.localizedDescription.hasPrefix(json + ": not a safetensors file"))
    }
}
