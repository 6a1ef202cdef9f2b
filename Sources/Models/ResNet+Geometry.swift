import Layers
import Tensors

extension ResNet {
    /// The convolutions a forward pass runs on `batch` images of `height`×`width` (and the model's
    /// `inputChannels`), in ``convolutions`` order: the stem, then each block's (shortcut projections
    /// included). Found by one forward pass of one blank image in evaluation mode, so the shapes are
    /// the ones training uses (`multimix bench conv` times them).
    ///
    ///     try ResNet(name: .resnet20, inputChannels: 3, classCount: 10).convolutionGeometries(batch: 128, height: 32, width: 32)
    ///     // 19: 3→16 at 32×32, 18 more in three stages of 16, 32 and 64 channels
    public func convolutionGeometries(batch: Int, height: Int, width: Int) -> [ConvolutionGeometry] {
        let wasTraining = isTraining
        isTraining = false
        defer { isTraining = wasTraining }
        _ = encode(Tensor(shape: [1, height, width, inputChannels]))
        return convolutions.map { conv in
            var geometry = conv.geometry!  // set by the forward pass above
            geometry.batch = batch
            return geometry
        }
    }
}
