/// A dense float tensor in row-major order: what preprocessing makes of a file and the encoders take, its shape
/// travelling with its values from the first to the last.
public struct FloatTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// Tensors of one shape along a new leading axis: [count] + shape.
    public init(stacking tensors: [FloatTensor]) {
        let shape = tensors.first?.shape ?? []
        precondition(tensors.allSatisfy { $0.shape == shape }, "stacked tensors differ in shape")
        self.init(shape: [tensors.count] + shape, values: tensors.flatMap(\.values))
    }

    /// Entry `index` along the first axis: [shape[1]…].
    public func item(_ index: Int) -> FloatTensor {
        precondition(!shape.isEmpty && shape[0] > index && index >= 0, "item \(index) of a \(shape) tensor")
        let itemShape = Array(shape.dropFirst()), size = itemShape.reduce(1, *)
        return FloatTensor(shape: itemShape, values: Array(values[(index * size)..<((index + 1) * size)]))
    }
}
