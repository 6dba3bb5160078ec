// teacher.h5 files (doc/formats.md): a trained EfficientNet-style network with the input it
// expects — its architecture as JSON, named weights including BN running statistics
// (timm's state_dict names), the input resolution and normalisation, and its test top-1.
// The teacher stage writes one; retrain and bench write the same layout, so any retrained
// network can be the next teacher (DNA+); tools/export_torchvision_efficientnet.py writes it
// from PyTorch.
#pragma once
#include "io/h5.h"
#include "nn/effnet.h"

enum { TEACHER_FORMAT = 1, TEACHER_MAX_HW = 8192 };  // largest input side a file may claim

typedef struct Teacher {
    EffNet net;
    int in_hw;               // input resolution the network runs at
    double mean[4], std[4];  // input normalisation of its weights
    double top1;             // test top-1 recorded when it was trained (-1: unknown)
} Teacher;

void teacher_save(const Teacher *t, const Backend *be, const H5Prov *prov, const char *path);
// Builds the network from the file's architecture and loads its weights; fatal naming the
// file when it is not a teacher.
void teacher_load(const Backend *be, const char *path, Teacher *t);
void teacher_free(const Backend *be, Teacher *t);
