// Hand-written because Python's pickle is a program, not a data format: this machine understands only the
// opcodes and the few named callables a PyTorch state_dict uses, and executes nothing.

/// A value built by the restricted unpickler.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A reference to one of the allowed callables or type markers, never resolved to code.
    case global(module: String, name: String)
    /// A storage from the archive's `data/` folder, as named by a persistent id.
    case storage(StorageReference)
    case tensor(TensorReference)

    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global(let module, let name): "\(module).\(name)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }
}

/// What lists and dicts share: how deep they nest, known as they are built so that no walk over a hostile
/// structure is ever needed to find out (releasing a structure nested 100,000 deep overflows the stack).
class PickleContainer {
    var depth = 1
    /// Set once the container is inside another: from then on it may not grow deeper, since the depth of
    /// every container holding it would have to grow too.
    var isContained = false
}

final class PickleList: PickleContainer { var items: [PickleValue] = [] }

final class PickleDict: PickleContainer {
    var keys: [String] = []
    var values: [String: PickleValue] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) throws(PickleError) {
        let name: String
        switch key {
        case .string(let text): name = text
        case .int(let number): name = String(number)
        default: throw .unsupported("a dict key of type \(key.kind)")
        }
        if values.updateValue(value, forKey: name) == nil { keys.append(name) }
    }

    /// Sets keys and values taken alternately from `items`.
    func set(pairs items: [RestrictedUnpickler.Slot]) throws(PickleError) {
        for i in stride(from: 0, to: items.count, by: 2) { try set(items[i].value, items[i + 1].value) }
    }
}

struct StorageReference {
    var key: String
    var dtype: SourceDType
    var elementCount: Int
}

struct TensorReference {
    var storage: StorageReference
    var storageOffset: Int
    var shape: [Int]
    var strides: [Int]
}

enum PickleError: Error, Equatable {
    case forbiddenGlobal(String)
    case exceedsLimit(String)
    case malformed(String)
    case unsupported(String)
}

/// Runs a pickle (protocols 2–5) that may build only dicts, lists, tuples, numbers, strings and tensors.
struct RestrictedUnpickler {
    /// Storage classes by name, as they appear in torch's persistent ids.
    static let storageTypes: [String: SourceDType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8,
        "BoolStorage": .bool,
    ]

    /// The only globals a state_dict pickle may name. Anything else is refused before it could matter.
    static let allowedGlobals = Set<String>([
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
    ]).union(storageTypes.keys.map { "torch.\($0)" })

    /// Deeper than any state_dict (a few levels) and shallow enough to release without exhausting a thread's stack.
    static let nestingLimit = 1000

    /// A value and, for a tuple, how deep it nests (a list's or dict's depth lives in the object, which may grow).
    typealias Slot = (value: PickleValue, depth: Int)

    private let data: UnsafeRawBufferPointer
    private var position = 0
    private var stack: [Slot] = []
    private var marks: [Int] = []
    private var memo: [Int: Slot] = [:]

    init(_ data: UnsafeRawBufferPointer) { self.data = data }

    mutating func run() throws(PickleError) -> PickleValue {
        while true {
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try bytes(8)  // FRAME: frames are only a buffering hint
            case 0x2E:  // STOP
                guard let result = stack.popLast() else { throw .malformed("STOP with an empty stack") }
                return result.value
            case 0x28: marks.append(stack.count)  // MARK
            case 0x4E: push(.none)  // NONE
            case 0x88: push(.bool(true))
            case 0x89: push(.bool(false))
            case 0x4A: push(.int(Int(Int32(littleEndian: try load(Int32.self)))))  // BININT
            case 0x4B: push(.int(Int(try byte())))  // BININT1
            case 0x4D: push(.int(Int(UInt16(littleEndian: try load(UInt16.self)))))  // BININT2
            case 0x8A: push(.int(try long(Int(try byte()))))  // LONG1
            case 0x8B: push(.int(try long(Int(try length32()))))  // LONG4
            case 0x47: push(.float(Double(bitPattern: UInt64(bigEndian: try load(UInt64.self)))))  // BINFLOAT
            case 0x58: push(.string(try text(Int(try length32()))))  // BINUNICODE
            case 0x8C: push(.string(try text(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x8D: push(.string(try text(try length64())))  // BINUNICODE8
            case 0x54: push(.string(try text(Int(try length32()))))  // BINSTRING
            case 0x55: push(.string(try text(Int(try byte()))))  // SHORT_BINSTRING
            case 0x42: push(.bytes(Array(try bytes(Int(try length32())))))  // BINBYTES
            case 0x43: push(.bytes(Array(try bytes(Int(try byte())))))  // SHORT_BINBYTES
            case 0x8E: push(.bytes(Array(try bytes(try length64()))))  // BINBYTES8
            case 0x7D: push(.dict(PickleDict()))  // EMPTY_DICT
            case 0x5D: push(.list(PickleList()))  // EMPTY_LIST
            case 0x29: push(.tuple([]), depth: 1)  // EMPTY_TUPLE
            case 0x74: try pushTuple(try popToMark())  // TUPLE
            case 0x85: try pushTuple(try pop(1))  // TUPLE1
            case 0x86: try pushTuple(try pop(2))  // TUPLE2
            case 0x87: try pushTuple(try pop(3))  // TUPLE3
            case 0x6C:  // LIST
                let list = PickleList()
                let items = try popToMark()
                try adopt(items, into: list)
                list.items = items.map(\.value)
                push(.list(list))
            case 0x64:  // DICT
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw .malformed("DICT with an odd number of items") }
                let dict = PickleDict()
                try adopt(items, into: dict)
                try dict.set(pairs: items)
                push(.dict(dict))
            case 0x61:  // APPEND
                let item = try pop(1)
                guard case .list(let list) = try top() else { throw .malformed("APPEND to a non-list") }
                try adopt(item, into: list)
                list.items.append(item[0].value)
            case 0x65:  // APPENDS
                let items = try popToMark()
                guard case .list(let list) = try top() else { throw .malformed("APPENDS to a non-list") }
                try adopt(items, into: list)
                list.items.append(contentsOf: items.map(\.value))
            case 0x73:  // SETITEM
                let pair = try pop(2)
                guard case .dict(let dict) = try top() else { throw .malformed("SETITEM on a non-dict") }
                try adopt(pair, into: dict)
                try dict.set(pairs: pair)
            case 0x75:  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0, case .dict(let dict) = try top() else { throw .malformed("SETITEMS on a non-dict") }
                try adopt(items, into: dict)
                try dict.set(pairs: items)
            case 0x71: memo[Int(try byte())] = try topSlot()  // BINPUT
            case 0x72: memo[Int(try length32())] = try topSlot()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try topSlot()  // MEMOIZE
            case 0x68: stack.append(try recall(Int(try byte())))  // BINGET
            case 0x6A: stack.append(try recall(Int(try length32())))  // LONG_BINGET
            case 0x30: _ = try pop(1)  // POP
            case 0x31: _ = try popToMark()  // POP_MARK
            case 0x32: stack.append(try topSlot())  // DUP
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try line()
                let name = try line()
                push(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                let pair = try pop(2)
                guard case .string(let module) = pair[0].value, case .string(let name) = pair[1].value else {
                    throw .malformed("STACK_GLOBAL needs two strings")
                }
                push(try global(module, name))
            case 0x51: push(try persistentLoad(try pop(1)[0].value))  // BINPERSID
            case 0x52, 0x81:  // REDUCE, NEWOBJ
                let pair = try pop(2)
                guard case .tuple(let arguments) = pair[1].value else { throw .malformed("calling with arguments that are not a tuple") }
                push(try call(pair[0].value, arguments))
            case 0x62:  // BUILD: only the attributes torch attaches to an OrderedDict (`_metadata`), which are dropped
                _ = try pop(1)
                let target = try top()
                guard case .dict = target else { throw .unsupported("setting the state of a \(target.kind)") }
            default:
                throw .unsupported(String(format: "pickle opcode 0x%02X at byte %d", opcode, position - 1))
            }
        }
    }

    // MARK: - The allowed callables

    /// Protocol 2 pickles written by Python 3 name some modules by their Python 2 names; Python maps them back.
    private static let python2Modules = [
        "__builtin__": "builtins", "exceptions": "builtins", "commands": "subprocess", "copy_reg": "copyreg",
        "cPickle": "pickle", "UserDict": "collections",
    ]

    private func global(_ module: String, _ name: String) throws(PickleError) -> PickleValue {
        let module = Self.python2Modules[module] ?? module
        let qualified = "\(module).\(name)"
        guard Self.allowedGlobals.contains(qualified) else { throw .forbiddenGlobal(qualified) }
        return .global(module: module, name: name)
    }

    private func call(_ callable: PickleValue, _ arguments: [PickleValue]) throws(PickleError) -> PickleValue {
        guard case .global(let module, let name) = callable else { throw .malformed("calling a \(callable.kind)") }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            guard arguments.isEmpty else { throw .unsupported("OrderedDict built from arguments") }
            return .dict(PickleDict())
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            // (storage, storage_offset, size, stride, [requires_grad, backward_hooks, metadata])
            guard arguments.count >= 4, case .storage(let storage) = arguments[0], case .int(let offset) = arguments[1],
                let shape = Self.integers(arguments[2]), let strides = Self.integers(arguments[3])
            else { throw .malformed("_rebuild_tensor arguments are not (storage, offset, size, stride, …)") }
            return .tensor(TensorReference(storage: storage, storageOffset: offset, shape: shape, strides: strides))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor.
            guard let data = arguments.first, case .tensor = data else { throw .malformed("_rebuild_parameter without a tensor") }
            return data
        default:
            // A storage class is only a marker inside a persistent id; calling it would build a storage from Python data.
            throw .unsupported("calling \(module).\(name)")
        }
    }

    private func persistentLoad(_ id: PickleValue) throws(PickleError) -> PickleValue {
        // torch: ('storage', <storage class>, key, location, numel)
        guard case .tuple(let fields) = id, fields.count >= 5, case .string("storage") = fields[0],
            case .global(_, let storageClass) = fields[1], case .string(let key) = fields[2], case .int(let count) = fields[4]
        else { throw .malformed("a persistent id that is not ('storage', type, key, location, numel)") }
        guard let dtype = Self.storageTypes[storageClass] else { throw .unsupported("storage type \(storageClass)") }
        guard count >= 0 else { throw .malformed("negative storage size") }
        return .storage(StorageReference(key: key, dtype: dtype, elementCount: count))
    }

    private static func integers(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items) = value else { return nil }
        var result: [Int] = []
        for item in items {
            guard case .int(let number) = item else { return nil }
            result.append(number)
        }
        return result
    }

    // MARK: - Reading the byte stream

    private mutating func byte() throws(PickleError) -> UInt8 {
        guard position < data.count else { throw .malformed("the pickle ends without STOP") }
        defer { position += 1 }
        return data[position]
    }

    private mutating func bytes(_ count: Int) throws(PickleError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= data.count - position else { throw .malformed("the pickle ends inside a value") }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: data[position..<(position + count)])
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) throws(PickleError) -> T {
        let raw = try bytes(MemoryLayout<T>.size)
        return raw.loadUnaligned(as: T.self)
    }

    private mutating func length32() throws(PickleError) -> UInt32 { UInt32(littleEndian: try load(UInt32.self)) }

    private mutating func length64() throws(PickleError) -> Int {
        let value = UInt64(littleEndian: try load(UInt64.self))
        guard value <= UInt64(Int.max) else { throw .malformed("a length beyond 2^63") }
        return Int(value)
    }

    /// A little-endian two's-complement integer of `count` bytes (pickle's LONG1/LONG4), if it fits in 64 bits.
    private mutating func long(_ count: Int) throws(PickleError) -> Int {
        let raw = try bytes(count)
        guard count <= 8 else { throw .unsupported("an integer wider than 64 bits") }
        guard count > 0 else { return 0 }
        var value: UInt64 = 0
        for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        if count < 8, raw[count - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(count)) }
        return Int(bitPattern: UInt(value))
    }

    private mutating func text(_ count: Int) throws(PickleError) -> String {
        let raw = try bytes(count)
        guard let string = String(validating: raw, as: UTF8.self) else { throw .malformed("a string that is not UTF-8") }
        return string
    }

    private mutating func line() throws(PickleError) -> String {
        guard let end = data[position...].firstIndex(of: 0x0A) else { throw .malformed("GLOBAL without a newline") }
        let raw = UnsafeRawBufferPointer(rebasing: data[position..<end])
        position = end + 1
        return String(decoding: raw, as: UTF8.self)
    }

    // MARK: - The stack

    private func top() throws(PickleError) -> PickleValue { try topSlot().value }

    private func topSlot() throws(PickleError) -> Slot {
        guard let last = stack.last else { throw .malformed("an opcode needs a value but the stack is empty") }
        return last
    }

    private mutating func push(_ value: PickleValue, depth: Int = 0) { stack.append((value, depth)) }

    private mutating func pushTuple(_ items: [Slot]) throws(PickleError) {
        let depth = 1 + (items.map(Self.depth).max() ?? 0)
        try checkNesting(depth)
        markContained(items)
        push(.tuple(items.map(\.value)), depth: depth)
    }

    /// Records `children` going into `container`, refusing what would nest too deep, a container put inside itself,
    /// or one deepened when already inside another (torch fills every container before placing it, so only a
    /// hostile pickle does those). Together these make cycles impossible: a cycle would leak, and be walked forever.
    private mutating func adopt(_ children: [Slot], into container: PickleContainer) throws(PickleError) {
        for child in children {
            switch child.value {
            case .list(let list as PickleContainer), .dict(let list as PickleContainer):
                if list === container { throw .exceedsLimit("a list or dict put inside itself, at byte offset \(position - 1)") }
            default: break
            }
        }
        let depth = max(container.depth, 1 + (children.map(Self.depth).max() ?? 0))
        try checkNesting(depth)
        if depth > container.depth, container.isContained {
            throw .exceedsLimit("a list or dict made deeper after it was put inside another, at byte offset \(position - 1)")
        }
        container.depth = depth
        markContained(children)
    }

    private func checkNesting(_ depth: Int) throws(PickleError) {
        guard depth <= Self.nestingLimit else {
            throw .exceedsLimit("pickle nesting deeper than \(Self.nestingLimit) levels at byte offset \(position - 1)")
        }
    }

    private func markContained(_ items: [Slot]) {
        for item in items {
            switch item.value {
            case .list(let list): list.isContained = true
            case .dict(let dict): dict.isContained = true
            default: break
            }
        }
    }

    private static func depth(_ slot: Slot) -> Int {
        switch slot.value {
        case .list(let list): list.depth
        case .dict(let dict): dict.depth
        default: slot.depth
        }
    }

    private mutating func pop(_ count: Int) throws(PickleError) -> [Slot] {
        guard stack.count - count >= (marks.last ?? 0) else { throw .malformed("an opcode needs \(count) values the stack does not have") }
        defer { stack.removeLast(count) }
        return Array(stack.suffix(count))
    }

    private mutating func popToMark() throws(PickleError) -> [Slot] {
        guard let mark = marks.popLast() else { throw .malformed("an opcode needs a MARK that is not there") }
        defer { stack.removeLast(stack.count - mark) }
        return Array(stack[mark...])
    }

    private func recall(_ index: Int) throws(PickleError) -> Slot {
        guard let value = memo[index] else { throw .malformed("memo entry \(index) is read before it is written") }
        return value
    }
}
