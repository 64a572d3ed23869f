/* winograd_f22.c: would Winograd with 2x2 output tiles pay for dcgan's 4x4 stride-2 convolutions?
 * A k4 s2 p1 convolution is a 2x2 stride-1 one over the space-to-depth input (4C channels); this
 * times F(2x2, 2x2) on it (weights, input and output transforms, and the 9 products as one batched
 * oneDNN matmul) against oneDNN's direct convolution (compute only, blocked layouts, best of 6,
 * batch 64), checks its forward against float64, and times F(4x4, 2x2)'s 25 products alone (the
 * transforms of that one are in src/backends/cpu_winograd.c). Not part of the build.
 * usage: cc -O3 -march=native -fopenmp -ffp-contract=off bench/winograd_f22.c -o /tmp/wf22 -ldnnl -lm && /tmp/wf22
 * Here (2026-11-27, full-speed host, two runs): F(2x2,2x2) 0.71-0.91x the direct convolution's speed, its 9
 * products alone 70-87% of the direct time; F(4x4,2x2)'s products alone 50-54% of it. */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
#define CK(x) do{ if((x)!=dnnl_success){printf("fail %s\n",#x);exit(1);} }while(0)
static dnnl_engine_t eng; static dnnl_stream_t st;
typedef struct { dnnl_primitive_t p; dnnl_memory_t a,b,c; } MM;
static MM mm_make(int X,int M,int N,int K){ MM m; dnnl_dims_t ad={X,M,K}, bd={X,K,N}, cd={X,M,N}; dnnl_memory_desc_t a,b,c;
  CK(dnnl_memory_desc_init_by_tag(&a,3,ad,dnnl_f32,dnnl_abc)); CK(dnnl_memory_desc_init_by_tag(&b,3,bd,dnnl_f32,dnnl_abc)); CK(dnnl_memory_desc_init_by_tag(&c,3,cd,dnnl_f32,dnnl_abc));
  dnnl_matmul_desc_t md; CK(dnnl_matmul_desc_init(&md,&a,&b,NULL,&c)); dnnl_primitive_desc_t pd; CK(dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL));
  CK(dnnl_primitive_create(&m.p,pd)); CK(dnnl_memory_create(&m.a,&a,eng,DNNL_MEMORY_NONE)); CK(dnnl_memory_create(&m.b,&b,eng,DNNL_MEMORY_NONE)); CK(dnnl_memory_create(&m.c,&c,eng,DNNL_MEMORY_NONE)); return m; }
static void mm_run(MM *m, const float*a,const float*b,float*c){ dnnl_memory_set_data_handle(m->a,(void*)a); dnnl_memory_set_data_handle(m->b,(void*)b); dnnl_memory_set_data_handle(m->c,c);
  dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,m->a},{DNNL_ARG_WEIGHTS,m->b},{DNNL_ARG_DST,m->c}}; CK(dnnl_primitive_execute(m->p,st,3,args)); dnnl_stream_wait(st); }
/* U[9][K][4C] */
static void wt(float *U, const float *w, int K, int C){ const size_t Cp=4*(size_t)C, KC=(size_t)K*Cp;
  #pragma omp parallel for
  for(int k=0;k<K;k++) for(int c=0;c<C;c++) { const float *wk=w+((size_t)k*C+c)*16; for(int ph=0;ph<4;ph++){ int py=ph>>1,px=ph&1;
    float g00=wk[py*4+px],g01=wk[py*4+2+px],g10=wk[(2+py)*4+px],g11=wk[(2+py)*4+2+px];
    float t0[2]={g00,g01}, t1[2]={g00+g10,g01+g11}, t2[2]={g10,g11}; float *t[3]={t0,t1,t2};
    float *u=U+(size_t)k*Cp+c*4+ph;
    for(int a=0;a<3;a++){ u[(a*3+0)*KC]=t[a][0]; u[(a*3+1)*KC]=t[a][0]+t[a][1]; u[(a*3+2)*KC]=t[a][1]; } } } }
/* V[9][4C][P], P = B*TY*TX tiles of 2x2 outputs */
static void it(float *V, const float *x, int C, int B, int H, int W){ const int Ho=H/2,Wo=W/2,TY=Ho/2,TX=Wo/2; const size_t P=(size_t)B*TY*TX, CP=4*(size_t)C*P;
  #pragma omp parallel
  { float s[3][64+2];  /* S2D rows: s[u][q], q=0..Wo */
    float e[3][3][32];
  #pragma omp for collapse(2) schedule(static)
  for(int c=0;c<C;c++) for(int b=0;b<B;b++){ const float *xb=x+((size_t)c*B+b)*H*W;
    for(int ph=0;ph<4;ph++){ int py=ph>>1,px=ph&1; float *vb=V+(size_t)(c*4+ph)*P+(size_t)b*TY*TX;
      for(int ty=0;ty<TY;ty++){
        for(int u=0;u<3;u++){ int r=2*(2*ty+u)+py-1; if(r<0||r>=H){ for(int q=0;q<=Wo;q++) s[u][q]=0; continue; }
          const float *xr=xb+(size_t)r*W; if(px==0){ s[u][0]=0; for(int q=1;q<=Wo;q++) s[u][q]=xr[2*q-1]; } else { for(int q=0;q<Wo;q++) s[u][q]=xr[2*q]; s[u][Wo]=0; } }
        for(int u=0;u<3;u++) for(int tx=0;tx<TX;tx++){ float d0=s[u][2*tx],d1=s[u][2*tx+1],d2=s[u][2*tx+2]; e[u][0][tx]=d0-d1; e[u][1][tx]=d1; e[u][2][tx]=d2-d1; }
        float *vt=vb+(size_t)ty*TX;
        for(int bb=0;bb<3;bb++) for(int tx=0;tx<TX;tx++){ float r0=e[0][bb][tx],r1=e[1][bb][tx],r2=e[2][bb][tx];
          vt[(0*3+bb)*CP+tx]=r0-r1; vt[(1*3+bb)*CP+tx]=r1; vt[(2*3+bb)*CP+tx]=r2-r1; } } } } } }
/* y[K][B][Ho][Wo] from M[9][K][P] */
static void ot(float *y, const float *Mm, int K, int B, int Ho, int Wo){ const int TY=Ho/2,TX=Wo/2; const size_t P=(size_t)B*TY*TX, KP=(size_t)K*P;
  #pragma omp parallel for collapse(2) schedule(static)
  for(int k=0;k<K;k++) for(int b=0;b<B;b++){ float *yb=y+((size_t)k*B+b)*Ho*Wo; const float *m=Mm+(size_t)k*P+(size_t)b*TY*TX;
    for(int ty=0;ty<TY;ty++){ const float *mt=m+(size_t)ty*TX; float *y0=yb+(2*ty)*Wo, *y1=y0+Wo;
      for(int tx=0;tx<TX;tx++){ float t[2][3]; for(int bb=0;bb<3;bb++){ float m0=mt[(0*3+bb)*KP+tx],m1=mt[(1*3+bb)*KP+tx],m2=mt[(2*3+bb)*KP+tx]; t[0][bb]=m0+m1; t[1][bb]=m1+m2; }
        y0[2*tx]=t[0][0]+t[0][1]; y0[2*tx+1]=t[0][1]+t[0][2]; y1[2*tx]=t[1][0]+t[1][1]; y1[2*tx+1]=t[1][1]+t[1][2]; } } } }
static double direct(int B,int C,int H,int K, const float *x, const float *w, float *y){ /* oneDNN direct, plain nchw-ish via any + reorder excluded: use nchw tags for simplicity of timing compute only */
  dnnl_dims_t sd={B,C,H,H}, wd={K,C,4,4}, dd={B,K,H/2,H/2}, str={2,2}, pl={1,1}; dnnl_memory_desc_t s,wm,d;
  dnnl_memory_desc_init_by_tag(&s,4,sd,dnnl_f32,dnnl_format_tag_any); dnnl_memory_desc_init_by_tag(&wm,4,wd,dnnl_f32,dnnl_format_tag_any); dnnl_memory_desc_init_by_tag(&d,4,dd,dnnl_f32,dnnl_format_tag_any);
  dnnl_convolution_desc_t cd; CK(dnnl_convolution_forward_desc_init(&cd,dnnl_forward_training,dnnl_convolution_direct,&s,&wm,NULL,&d,str,pl,pl));
  dnnl_primitive_desc_t pd; CK(dnnl_primitive_desc_create(&pd,&cd,NULL,eng,NULL)); dnnl_primitive_t p; CK(dnnl_primitive_create(&p,pd));
  dnnl_memory_t a,bm,c; dnnl_memory_create(&a,dnnl_primitive_desc_query_md(pd,dnnl_query_src_md,0),eng,DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&bm,dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0),eng,DNNL_MEMORY_ALLOCATE); dnnl_memory_create(&c,dnnl_primitive_desc_query_md(pd,dnnl_query_dst_md,0),eng,DNNL_MEMORY_ALLOCATE);
  dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,a},{DNNL_ARG_WEIGHTS,bm},{DNNL_ARG_DST,c}}; double best=1e9; for(int r=0;r<6;r++){double t=now(); dnnl_primitive_execute(p,st,3,args); dnnl_stream_wait(st); t=now()-t; if(t<best)best=t;} return best; }
static void ref(double *y,const float*x,const float*w,int B,int C,int H,int K,int kk){ int Ho=H/2; for(int b=0;b<B;b++)for(int oy=0;oy<Ho;oy++)for(int ox=0;ox<Ho;ox++){double s=0; for(int c=0;c<C;c++)for(int a=0;a<4;a++)for(int e=0;e<4;e++){int r=2*oy-1+a,q=2*ox-1+e; if(r<0||r>=H||q<0||q>=H)continue; s+=(double)x[((size_t)c*B+b)*H*H+r*H+q]*w[(((size_t)kk*C+c)*4+a)*4+e];} y[((size_t)b)*Ho*Ho+oy*Ho+ox]=s;} }
int main(){ CK(dnnl_engine_create(&eng,dnnl_cpu,0)); CK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags)); int B=64; int cfg[][3]={{64,32,128},{128,16,256},{256,8,512},{64,16,128},{128,8,256}};
 for(int ci=0;ci<5;ci++){ int C=cfg[ci][0],H=cfg[ci][1],K=cfg[ci][2],Ho=H/2; size_t xn=(size_t)C*B*H*H, yn=(size_t)K*B*Ho*Ho, P=(size_t)B*(Ho/2)*(Ho/2);
  float *x=malloc(xn*4),*w=malloc((size_t)K*C*16*4),*y=malloc(yn*4); srand(1); for(size_t i=0;i<xn;i++)x[i]=rand()/(float)RAND_MAX-0.5f; for(size_t i=0;i<(size_t)K*C*16;i++)w[i]=(rand()/(float)RAND_MAX-0.5f)*0.04f;
  double flops=2.0*K*C*16*(double)B*Ho*Ho; float *U=malloc(9*(size_t)K*4*C*4),*V=malloc(9*4*(size_t)C*P*4),*Mm=malloc(9*(size_t)K*P*4);
  MM mm=mm_make(9,K,P,4*C); double tt[4]={0}, best=1e9;
  for(int r=0;r<7;r++){ double t0=now(); wt(U,w,K,C); double t1=now(); it(V,x,C,B,H,H); double t2=now(); mm_run(&mm,U,V,Mm); double t3=now(); ot(y,Mm,K,B,Ho,Ho); double t4=now();
    if(r>0){tt[0]+=t1-t0;tt[1]+=t2-t1;tt[2]+=t3-t2;tt[3]+=t4-t3;} if(t4-t0<best)best=t4-t0; }
  double *yr=malloc(sizeof(double)*B*Ho*Ho); double e2=0,r2=0; for(int kk=0;kk<K;kk+=K/4){ ref(yr,x,w,B,C,H,K,kk); for(size_t i=0;i<(size_t)B*Ho*Ho;i++){double d=y[(size_t)kk*B*Ho*Ho+i]-yr[i]; e2+=d*d; r2+=yr[i]*yr[i];} }
  double dt=direct(B,C,H,K,x,w,y);
  /* F(4x4,2x2): 25 products over a quarter of the tiles; the products alone, transforms not written */
  double m4=-1; if((Ho/2)%2==0){ size_t P4=P/4; float *U4=calloc(25*(size_t)K*4*C,4),*V4=calloc(25*4*(size_t)C*P4,4),*M4=malloc(25*(size_t)K*P4*4); MM mm4=mm_make(25,K,P4,4*C); m4=1e9; for(size_t i=0;i<25*(size_t)K*4*C;i++)U4[i]=1e-3f*(i%7); for(size_t i=0;i<25*4*(size_t)C*P4;i++)V4[i]=1e-3f*(i%5);
    for(int r=0;r<6;r++){ double t=now(); mm_run(&mm4,U4,V4,M4); t=now()-t; if(t<m4)m4=t; } free(U4);free(V4);free(M4); }
  printf("C%d H%d K%d: F(2x2,2x2) %.2f ms [weights %.2f input %.2f products %.2f output %.2f] vs direct %.2f ms (%.0f GFLOP/s): %.2fx, error %.1e; F(4x4,2x2) products alone %.2f ms\n",C,H,K,best*1e3,tt[0]/6e-3,tt[1]/6e-3,tt[2]/6e-3,tt[3]/6e-3,dt*1e3,flops/dt*1e-9,dt/best,sqrt(e2/r2),m4*1e3);
  free(U);free(V);free(Mm);free(x);free(w);free(y);free(yr);} }
