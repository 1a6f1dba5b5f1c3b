"""Evaluation figures: accuracy, confusion matrix, per-class accuracy, the model's mistakes."""
import numpy as np


def accuracy(predicted, labels):
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    return float((predicted == labels).mean()) if labels.size else float("nan")


def confusion_matrix(predicted, labels, num_classes=10):
    """(K, K) counts: row = true class, column = predicted class."""
    counts = np.bincount(np.asarray(labels) * num_classes + np.asarray(predicted),
                         minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_accuracy(confusion):
    """Recall of each true class (nan for a class with no examples)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


def mistakes(probabilities, labels, true_class=None, predicted_class=None):
    """Indices of misclassified rows, most confident mistakes first, optionally filtered."""
    predicted = probabilities.argmax(axis=1)
    wrong = predicted != labels
    if true_class is not None:
        wrong &= labels == true_class
    if predicted_class is not None:
        wrong &= predicted == predicted_class
    idx = np.flatnonzero(wrong)
    confidence = probabilities[idx, predicted[idx]]
    return idx[np.argsort(-confidence, kind="stable")]
