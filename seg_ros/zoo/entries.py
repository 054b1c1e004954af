# Copyright 2026 seg_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Zoo entries of the deployment architectures: ESPNetv2, BiSeNetV2 and SegFormer-B0.

Registered when :mod:`seg_ros.zoo` is imported (the package imports this module); the registry
(:mod:`seg_ros.zoo.registry`) never imports its entries. Plain data: no PyTorch import here.

BiSeNetV2 and SegFormer-B0 have no sha256 published by their authors and their files could not
be fetched to compute one, so their entries carry an empty ``sha256`` and the exporter asks for
``--weights PATH`` (the file the user downloaded from ``url``) instead of downloading
unverified bytes.
"""
from seg_ros.inference.contract import default_palette
from seg_ros.zoo.datasets.ade20k import ADE20K_CLASSES, ADE20K_PALETTE
from seg_ros.zoo.datasets.camvid import CAMVID_CLASSES, CAMVID_PALETTE
from seg_ros.zoo.datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from seg_ros.zoo.datasets.cocostuff import COCO_STUFF_171
from seg_ros.zoo.datasets.rugd import RUGD_ATTRIBUTION, RUGD_CLASSES, RUGD_PALETTE
from seg_ros.zoo.networks import Normalization
from seg_ros.zoo.registry import register, ZooEntry

ESPNET_COMMIT = 'afe71c38edaee3514ca44e0adcafdf36109bf437'
ESPNET_RAW = f'https://raw.githubusercontent.com/sacmehta/ESPNet/{ESPNET_COMMIT}'
ESPNET_ATTRIBUTION = ('ESPNet, Sachin Mehta et al., "ESPNet: Efficient Spatial Pyramid of '
                      'Dilated Convolutions for Semantic Segmentation", ECCV 2018; weights '
                      'from github.com/sacmehta/ESPNet, MIT licence, Copyright (c) 2018 '
                      'Sachin Mehta')
EDGENETS_COMMIT = '2b232d3f7fb60658755dad1ebca0ffc895cc795e'
EDGENETS_ATTRIBUTION = ('ESPNetv2, Sachin Mehta et al., "ESPNetv2: A Light-weight, Power '
                        'Efficient, and General Purpose Convolutional Neural Network", CVPR 2019; '
                        'weights from github.com/sacmehta/EdgeNets, MIT licence, '
                        'Copyright (c) 2019 Sachin Mehta')
BISENET_ATTRIBUTION = ('BiSeNetV2, Changqian Yu et al., "BiSeNet V2: Bilateral Network with '
                       'Guided Aggregation for Real-time Semantic Segmentation", IJCV 2021; '
                       'implementation and weights by CoinCheung (github.com/CoinCheung/BiSeNet), '
                       'MIT licence')
SEGFORMER_ATTRIBUTION = ('SegFormer, Enze Xie et al., "SegFormer: Simple and Efficient Design '
                         'for Semantic Segmentation with Transformers", NeurIPS 2021; weights '
                         'nvidia/segformer-b0-finetuned-ade-512-512 (Hugging Face), NVIDIA '
                         'Source Code License: non-commercial, research and evaluation only')

register(ZooEntry(
    name='espnet_camvid', architecture='ESPNet (p=2, q=8) with decoder',
    factory='seg_ros.zoo.networks.espnet:espnet',
    factory_kwargs={'classes': 12, 'p': 2, 'q': 8, 'skip': 'b1'},
    dataset='CamVid (11 classes + void, SegNet split)',
    classes=CAMVID_CLASSES, palette=CAMVID_PALETTE,
    normalization=Normalization(mean=(110.331, 108.409, 105.033), std=(72.126, 72.691, 69.904),
                                scale=1 / 255, bgr=True),
    input_size=(360, 480), weights_file='espnet_camvid.pth',
    url=f'{ESPNET_RAW}/pretrained/decoder/espnet_p_2_q_8_camvid.pth',
    sha256='7d354a257170322086dcd4c1e89a482454cf2c9d30b085e70883878dd59301af',
    licence='MIT', attribution=ESPNET_ATTRIBUTION, size_multiple=8,
    notes='trained on CamVid 480x360; "void" (id 11) is predicted but not scored'))

register(ZooEntry(
    name='espnet_cityscapes', architecture='ESPNet (p=2, q=8) with decoder',
    factory='seg_ros.zoo.networks.espnet:espnet',
    factory_kwargs={'classes': 20, 'p': 2, 'q': 8, 'skip': 'level1'},
    dataset='Cityscapes (19 train ids + ignore)',
    classes=CITYSCAPES_CLASSES + ('ignore',), palette=CITYSCAPES_PALETTE + ((0, 0, 0),),
    normalization=Normalization(mean=(72.39, 82.91, 73.16), std=(45.32, 46.15, 44.91),
                                scale=1 / 255, bgr=True),
    input_size=(512, 1024), weights_file='espnet_cityscapes.pth',
    url=f'{ESPNET_RAW}/pretrained/decoder/espnet_p_2_q_8.pth',
    sha256='343b0e77e8545d36113c4f3efbf1ee349256f25c97c9f9d5ddefe45f2f49763e',
    licence='MIT', attribution=ESPNET_ATTRIBUTION, size_multiple=8,
    notes='trained at 1024x512; id 19 is the ignore class'))

register(ZooEntry(
    name='espnetv2_cityscapes', architecture='ESPNetv2 (s=2.0) with EESP decoder',
    factory='seg_ros.zoo.networks.espnetv2:espnetv2', factory_kwargs={'classes': 20, 's': 2.0},
    dataset='Cityscapes (19 train ids + background)',
    classes=CITYSCAPES_CLASSES + ('background',), palette=CITYSCAPES_PALETTE + ((0, 0, 0),),
    normalization=Normalization.imagenet(),
    input_size=(512, 1024), weights_file='espnetv2_s2_cityscapes.pth',
    url=(f'https://raw.githubusercontent.com/sacmehta/EdgeNets/{EDGENETS_COMMIT}/model/'
         'segmentation/model_zoo/espnetv2/espnetv2_s_2.0_city_1024x512.pth'),
    sha256='a72d59699801c7ce8e8b89a53af9097eaaa60dc12180ecde86fd700ba1222fe8',
    licence='MIT', attribution=EDGENETS_ATTRIBUTION, size_multiple=16,
    notes='trained at 1024x512, 66.4 mIoU on Cityscapes val (published); id 19 is background'))

register(ZooEntry(
    name='bisenetv2_cityscapes', architecture='BiSeNetV2 (CoinCheung implementation)',
    factory='seg_ros.zoo.networks.bisenetv2:bisenetv2', factory_kwargs={'n_classes': 19},
    dataset='Cityscapes (19 train ids)',
    classes=CITYSCAPES_CLASSES, palette=CITYSCAPES_PALETTE,
    normalization=Normalization(mean=(255 * 0.3257, 255 * 0.3690, 255 * 0.3223),
                                std=(255 * 0.2112, 255 * 0.2148, 255 * 0.2115)),
    input_size=(512, 1024), weights_file='model_final_v2_city.pth',
    url='https://github.com/CoinCheung/BiSeNet/releases/download/0.0.0/model_final_v2_city.pth',
    sha256='', licence='MIT', attribution=BISENET_ATTRIBUTION, size_multiple=32,
    notes='74.95 mIoU (val, single scale) published at 1024x2048 input; no sha256 published, '
          'pass the downloaded file with --weights'))

register(ZooEntry(
    name='bisenetv2_cocostuff', architecture='BiSeNetV2 (CoinCheung implementation)',
    factory='seg_ros.zoo.networks.bisenetv2:bisenetv2', factory_kwargs={'n_classes': 171},
    dataset='COCO-Stuff 2017 (171 classes: 80 things + 91 stuff)',
    classes=COCO_STUFF_171,
    palette=tuple((int(r), int(g), int(b)) for r, g, b in default_palette(171)),
    normalization=Normalization(mean=(255 * 0.46962251, 255 * 0.4464104, 255 * 0.40718787),
                                std=(255 * 0.27469736, 255 * 0.27012361, 255 * 0.28515933)),
    input_size=(640, 640), weights_file='model_final_v2_coco.pth',
    url='https://github.com/CoinCheung/BiSeNet/releases/download/0.0.0/model_final_v2_coco.pth',
    sha256='', licence='MIT', attribution=BISENET_ATTRIBUTION, size_multiple=32,
    notes='30.49 mIoU (COCO-Stuff val2017, single scale, 640x640 crops) published; no sha256 '
          'published, pass the downloaded file with --weights'))

register(ZooEntry(
    name='segformer_b0_ade20k', architecture='SegFormer-B0 (MiT-B0 + all-MLP decoder)',
    factory='seg_ros.zoo.networks.segformer:segformer_b0', factory_kwargs={'n_classes': 150},
    dataset='ADE20K SceneParsing (150 classes)',
    classes=ADE20K_CLASSES, palette=ADE20K_PALETTE,
    normalization=Normalization.imagenet(),
    input_size=(512, 512), weights_file='segformer_b0_ade20k.safetensors',
    url=('https://huggingface.co/nvidia/segformer-b0-finetuned-ade-512-512/resolve/main/'
         'model.safetensors'),
    sha256='', licence='NVIDIA Source Code License (non-commercial)',
    attribution=SEGFORMER_ATTRIBUTION, size_multiple=32,
    notes='37.4 mIoU on ADE20K val at 512x512 (paper); no sha256 published, pass '
          'model.safetensors or pytorch_model.bin with --weights'))

BISENET_ROS_COMMIT = 'e877951b9570fc30450dcd250e66682fee82e598'
register(ZooEntry(
    name='bisenetv2_rugd', architecture='BiSeNetV2 (CoinCheung implementation, no aux heads)',
    factory='seg_ros.zoo.networks.bisenetv2_int8:bisenetv2_rugd',
    factory_kwargs={'n_classes': 25},
    dataset='RUGD (25 off-road classes)',
    classes=RUGD_CLASSES, palette=RUGD_PALETTE,
    normalization=Normalization(mean=(255 * 0.3257, 255 * 0.3690, 255 * 0.3223),
                                std=(255 * 0.2112, 255 * 0.2148, 255 * 0.2115)),
    input_size=(128, 192), weights_file='bisenetv2_rugd_int8_jit.pt',
    url=(f'https://raw.githubusercontent.com/KangneoungLee/bisenet_ros/{BISENET_ROS_COMMIT}/'
         'bisenet_ros/trained_model/bisenetv2_jit_calimg_1500.pt'),
    sha256='480982743eec52f484ae815497e525bb25f8cfc88fc7224f258c7b7aff7e8275',
    licence='MIT', size_multiple=32,
    attribution=(f'{BISENET_ATTRIBUTION}; RUGD weights by Kangneoung Lee '
                 '(github.com/KangneoungLee/bisenet_ros, bisenetv2_jit_calimg_1500.pt, MIT '
                 f'licence), trained on {RUGD_ATTRIBUTION}'),
    extra={'align_corners': 'true'},
    notes='float weights rebuilt from the int8 TorchScript release (dequantized convs, its own '
          'BNs); 98.7 % label agreement with that file on creek_00156.png (frame size); input '
          'resized with align_corners=True to 192x128 as the release does; no published accuracy'))
