"""The plain CNN of the tutorial this project grew from: four conv-BN-ReLU-pool stages
and the landmark head. Small, slow to converge, a baseline."""

from torch import nn

from .head import LandmarkHead, feature_size


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PlainCNN(nn.Module):
    def __init__(self, num_points: int, input_size: int = 112, channels=(32, 64, 128, 256), head_channels: int = 64,
                 head_pooling: str = "flatten", dropout: float = 0.0):
        super().__init__()
        layers, cin = [], 3
        for c in channels:
            layers += [conv_bn_relu(cin, c), conv_bn_relu(c, c), nn.MaxPool2d(2, ceil_mode=True)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.head = LandmarkHead(cin, feature_size(input_size, 2 ** len(channels)), num_points, head_channels, head_pooling, dropout)

    def forward(self, x):
        return self.head(self.features(x))
