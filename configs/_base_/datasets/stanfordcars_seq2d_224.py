# Stanford Cars at 224 for transfer from IN-1K (paper Tables 6 and 7): 8,144 train and 8,041
# test images, 196 classes; the Flowers-102 pipeline and loaders (./flowers102_seq2d_224.py).
# mmpretrain's StanfordCars expects data/stanfordcars/ as either {car_ims/, cars_annos.mat} or
# {cars_train/, cars_test/, devkit/cars_{train_annos,test_annos_withlabels}.mat}.
_base_ = './flowers102_seq2d_224.py'
dataset_type = 'StanfordCars'
data_root = 'data/stanfordcars'
data_preprocessor = dict(num_classes=196)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
