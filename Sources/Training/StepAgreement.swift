import Distributed

/// What the ranks learn about a step besides its gradients, summed over the ranks in the gradients'
/// all-reduce (beside the last bucket, no round trip of its own).
struct StepAgreement: Equatable {
    /// Σ of the ranks' finite losses.
    var lossSum = 0.0
    /// Ranks whose loss was not finite.
    var nonFiniteLosses = 0
    /// Ranks that received a stop signal.
    var stopRequests = 0
    /// Ranks with an image that failed to decode (`data.on_bad_image: error`).
    var undecodedImages = 0
    /// Images replaced by another of their class (`data.on_bad_image: skip`).
    var replacedImages = 0

    /// This rank's part.
    init(loss: Double, stopRequested: Bool, undecodedImage: Bool, replacedImages: Int) {
        (lossSum, nonFiniteLosses) = loss.isFinite ? (loss, 0) : (0, 1)
        stopRequests = stopRequested ? 1 : 0
        undecodedImages = undecodedImage ? 1 : 0
        self.replacedImages = replacedImages
    }

    /// Every rank's parts summed, as the step's all-reduce leaves them; returns the exposed
    /// communication time of `synchroniser.finish`.
    mutating func sum(finishing synchroniser: GradientSynchroniser) throws -> Double {
        var sums = [lossSum, Double(nonFiniteLosses), Double(stopRequests), Double(undecodedImages), Double(replacedImages)]
        let exposed = try synchroniser.finish(summing: &sums)
        lossSum = sums[0]
        (nonFiniteLosses, stopRequests, undecodedImages, replacedImages) = (Int(sums[1]), Int(sums[2]), Int(sums[3]), Int(sums[4]))
        return exposed
    }
}
