// The student supernet of one (block, cell) job, whatever the space's kind: an MBConv cell
// (nas/cell.h) or a ViT supernet (nas/vitcell.h). What training and checkpoints need of it,
// so that `dna train` is one loop for both. A path is an int per layer for MBConv cells and
// the subnet's code in path[0] for ViT ones.
#pragma once
#include "nas/cell.h"
#include "nas/space.h"
#include "nas/vitcell.h"

typedef struct Student {
    int vit;
    Cell cell;
    VitCell vc;
} Student;

void student_init(const Backend *be, Student *s, const Space *sp, int block, int cell, Rng *rng);
void student_free(const Backend *be, Student *s);
// The path of a step: uniform over the cell's paths, from `root` split by `step`.
void student_sample(const Student *s, Rng *root, long step, int *path);
// Everything a checkpoint holds (parameters with their optimizer state), the batch norms
// (MBConv cells; a ViT supernet has none) and their running statistics.
void student_all_params(Student *s, ParamList *l);
int student_bns(Student *s, BatchNorm **bns, int max);
int student_stats(Student *s, Tensor **stats, int max);
// Evaluation-mode forward of a path (validation).
const Tensor *student_forward_eval(const Backend *be, Student *s, const int *path, const Tensor *x);
