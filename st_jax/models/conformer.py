"""Conformer encoder (Gulati et al., 2020): macaron FFNs around self-attention and a conv module.

Shapes: B batch, T frames, D model dim, N heads, H head dim, K depthwise kernel, G norm groups.
All modules take `(x [B, T, D], paddings [B, T])`, paddings 1.0 = padded, and padded frames
never influence unpadded outputs: attention masks padded keys, the conv module zeroes padded
frames before its depthwise conv and its group norm ignores them.

Normalisation in the conv module: the paper uses batch norm, whose statistics mix utterances
and padding (and need running averages, i.e. mutable state, at inference). We offer per-frame
LayerNorm ('layer', default) or a group norm whose statistics use unpadded frames only
('group'); both are padding-exact and stateless.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from st_jax.errors import ConfigError
from st_jax.models.attention import MultiHeadAttention
from st_jax.models.layers import (LAYER_NORM_EPSILON, Dtype, FeedForward, StochasticDepth,
                                  constrain, dense, key_mask, layer_norm, mask_padded,
                                  partitioned)

CONV_NORMS = ("layer", "group")


class MaskedGroupNorm(nn.Module):
  """Group norm over (unpadded frames, channels of a group), per utterance: x [B, T, D].

  mu_g = mean_{t valid, c in g} x[t, c],  var_g likewise,
  y = (x - mu_g) / sqrt(var_g + eps) * gamma + beta
  """
  num_groups: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, paddings: jax.Array) -> jax.Array:
    batch, frames, channels = x.shape
    if channels % self.num_groups:
      raise ConfigError(f"model.encoder.conv_groups={self.num_groups} does not divide "
                        f"model.d_model={channels}")
    grouped = x.astype(jnp.float32).reshape(batch, frames, self.num_groups, -1)
    valid = (paddings < 0.5).astype(jnp.float32)[:, :, None, None]
    count = jnp.maximum(valid.sum(axis=(1, 3), keepdims=True) * grouped.shape[-1], 1.0)
    mean = (grouped * valid).sum(axis=(1, 3), keepdims=True) / count
    var = (jnp.square(grouped - mean) * valid).sum(axis=(1, 3), keepdims=True) / count
    normed = ((grouped - mean) * jax.lax.rsqrt(var + LAYER_NORM_EPSILON)).reshape(x.shape)
    scale = self.param("scale", partitioned(nn.initializers.ones, ("embed",)), (channels,),
                       self.param_dtype)
    bias = self.param("bias", partitioned(nn.initializers.zeros, ("embed",)), (channels,),
                      self.param_dtype)
    return (normed * scale + bias).astype(self.dtype)


class DepthwiseConv(nn.Module):
  """Depthwise 'same' convolution over time: x [B, T, D] -> y [B, T, D],

  y[b, t, c] = bias[c] + sum_{k<K} kernel[k, 0, c] x[b, t + k - K//2, c]   (zeros outside).

  Parameters as flax nn.Conv(feature_group_count=D) names and shapes them (kernel [K, 1, D],
  bias [D]). The kernel is sharded over `embed` when stored (fsdp) but gathered before use,
  so the activations stay batch-sharded (left alone, XLA shards them by channel to match the
  kernel and then fully rematerialises them back).
  """
  kernel_size: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    kernel = self.param("kernel", partitioned(nn.initializers.lecun_normal(),
                                              (None, None, "embed")),
                        (self.kernel_size, 1, channels), self.param_dtype)
    bias = self.param("bias", partitioned(nn.initializers.zeros, ("embed",)), (channels,),
                      self.param_dtype)
    kernel = constrain(kernel.astype(self.dtype), (None, None, None))
    x = constrain(x.astype(self.dtype), ("batch", "length", "embed"))
    y = jax.lax.conv_general_dilated(x, kernel, (1,), "SAME",
                                     dimension_numbers=("NWC", "WIO", "NWC"),
                                     feature_group_count=channels)
    return constrain(y + bias.astype(self.dtype), ("batch", "length", "embed"))


class ConvolutionModule(nn.Module):
  """Conformer convolution module: x [B, T, D] -> [B, T, D].

  h = GLU(pointwise_conv1(LN(x)))              D -> 2D -> D
  h = depthwise_conv(mask(h))                  kernel K over time, one filter per channel
  y = dropout(pointwise_conv2(swish(Norm(h))))  Norm = LayerNorm or masked GroupNorm
  """
  kernel_size: int = 31
  norm: str = "layer"
  num_groups: int = 1
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, paddings: jax.Array, deterministic: bool = True) -> jax.Array:
    if self.kernel_size % 2 == 0:
      raise ConfigError(f"model.encoder.conv_kernel_size={self.kernel_size} must be odd "
                        "(symmetric 'same' padding)")
    if self.norm not in CONV_NORMS:
      raise ConfigError(f"model.encoder.conv_norm={self.norm!r} is not one of {CONV_NORMS}")
    channels = x.shape[-1]
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = layer_norm(name="layer_norm", **proj)(x)
    h = dense(2 * channels, ("embed", "mlp"), name="pointwise_conv1", **proj)(h)
    h = constrain(h, ("batch", "length", "mlp"))
    h = mask_padded(jax.nn.glu(h, axis=-1), paddings)
    h = DepthwiseConv(self.kernel_size, name="depthwise_conv", **proj)(h)
    if self.norm == "layer":
      h = layer_norm(name="depthwise_layer_norm", **proj)(h)
    else:
      h = MaskedGroupNorm(self.num_groups, name="depthwise_group_norm", **proj)(h, paddings)
    h = constrain(nn.swish(h), ("batch", "length", "embed"))
    h = dense(channels, ("mlp", "embed"), name="pointwise_conv2", **proj)(h)
    return nn.Dropout(self.dropout_rate)(h, deterministic=deterministic)


class ConformerBlock(nn.Module):
  """One Conformer block: x [B, T, D] -> [B, T, D]; every branch f gets residual dropout and
  stochastic depth SD (drops the branch per utterance while training):

  x = x + 1/2 SD(FFN1(LN(x)))
  x = x + SD(MHSA(LN(x)))          relative positions (Transformer-XL u/v biases) or RoPE
  x = x + SD(Conv(x))              see ConvolutionModule
  x = x + 1/2 SD(FFN2(LN(x)))
  y = LN(x)
  """
  d_model: int
  num_heads: int
  ffn_dim: int
  activation: str = "swish"
  conv_kernel_size: int = 31
  conv_norm: str = "layer"
  conv_groups: int = 1
  position: str = "relative"
  attention_impl: str = "auto"
  dropout: float = 0.1
  attention_dropout: float = 0.0
  activation_dropout: float = 0.0
  stochastic_depth: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, paddings, positions=None, deterministic: bool = True,
               depth_scale: jax.Array | None = None) -> jax.Array:
    """`depth_scale` (traced, optional) multiplies the stochastic-depth rate (nn.scan)."""
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    stochastic_depth = StochasticDepth(self.stochastic_depth)
    dropout = nn.Dropout(self.dropout)

    def drop_path(y, deterministic):
      return stochastic_depth(y, deterministic, depth_scale)

    def branch(y):
      return drop_path(dropout(y, deterministic=deterministic), deterministic=deterministic)

    def ffn(name):
      return FeedForward(self.ffn_dim, self.activation, self.activation_dropout, name=name, **proj)

    x = x + 0.5 * branch(ffn("ffn1")(layer_norm(name="ffn1_layer_norm", **proj)(x), deterministic))
    attention = MultiHeadAttention(
        self.num_heads, self.d_model, self.attention_impl, self.attention_dropout,
        position=self.position, name="self_attn", **proj)
    h = layer_norm(name="self_attn_layer_norm", **proj)(x)
    x = x + branch(attention(h, key_mask(paddings), positions, deterministic))
    conv = ConvolutionModule(self.conv_kernel_size, self.conv_norm, self.conv_groups, self.dropout,
                             name="conv_module", **proj)
    x = x + drop_path(conv(x, paddings, deterministic), deterministic=deterministic)
    x = x + 0.5 * branch(ffn("ffn2")(layer_norm(name="ffn2_layer_norm", **proj)(x), deterministic))
    x = layer_norm(name="final_layer_norm", **proj)(x)
    return constrain(x, ("batch", "length", "embed"))


# Activation checkpointing of each block (`model.encoder.remat`): what the backward pass keeps.
REMAT_POLICIES = {
    "none": None,                                   # no rematerialisation
    "full": jax.checkpoint_policies.nothing_saveable,   # recompute the whole block
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,  # keep matmul outputs
}


class _ScanStep(nn.Module):
  """One layer as an `nn.scan` body: carry x [B, T, D]; broadcast paddings, positions;
  scanned depth_scale [L] (l / L, the stochastic-depth schedule)."""
  block: ConformerBlock
  deterministic: bool = True

  @nn.compact
  def __call__(self, x, paddings, positions, depth_scale):
    block = self.block.clone(parent=self, name="block")
    return block(x, paddings, positions, self.deterministic, depth_scale), None


class ConformerEncoder(nn.Module):
  """Stack of Conformer blocks on front-end output: (x [B, T, D], paddings) -> same shapes.

  x = dropout(x * sqrt(D) if scale_embedding else x);  x = Block_l(x) for l = 1..L;  y = mask(x)
  `block` is a template; block l is a copy with stochastic-depth rate
  block.stochastic_depth * l / L (linearly increasing with depth).

  scan_layers: the L blocks run as one `nn.scan` over parameters stacked on a leading
  `layers` axis (paths encoder/layers/block/..., shapes [L, ...]): one block is compiled instead
  of L, so compile time and program size do not grow with depth (pod-scale configs); same
  outputs as the unrolled stack given the stacked parameters. remat: 'none' | 'full' | 'dots'
  (REMAT_POLICIES), activation checkpointing per block: the backward pass recomputes the
  block's activations instead of keeping them (memory O(L) block inputs instead of O(L)
  blocks' internals).
  """
  num_layers: int
  block: ConformerBlock
  scale_embedding: bool = True
  scan_layers: bool = False
  remat: str = "none"

  @nn.compact
  def __call__(self, x, paddings, deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    if self.block.position not in ("relative", "rope", "none"):
      raise ConfigError(f"model.encoder.position={self.block.position!r} for a conformer must be "
                        "'relative', 'rope' or 'none'")
    x = x.astype(self.block.dtype)
    if self.scale_embedding:
      x = x * jnp.sqrt(jnp.asarray(self.block.d_model, x.dtype))
    x = nn.Dropout(self.block.dropout)(x, deterministic=deterministic)
    if self.remat not in REMAT_POLICIES:
      raise ConfigError(f"model.encoder.remat={self.remat!r} must be one of "
                        f"{', '.join(REMAT_POLICIES)}")
    positions = jnp.arange(x.shape[1])[None, :]
    if self.scan_layers:
      step = _ScanStep
      if self.remat != "none":
        step = nn.remat(step, prevent_cse=False, policy=REMAT_POLICIES[self.remat])
      scanned = nn.scan(step, variable_axes={"params": 0},
                        split_rngs={"params": True, "dropout": True},
                        in_axes=(nn.broadcast, nn.broadcast, 0), length=self.num_layers,
                        metadata_params={nn.PARTITION_NAME: "layers"})
      depth_scale = jnp.arange(1, self.num_layers + 1, dtype=jnp.float32) / self.num_layers
      x, _ = scanned(self.block, deterministic, name="layers")(x, paddings, positions,
                                                               depth_scale)
      return mask_padded(x, paddings), paddings
    block_class = type(self.block)
    if self.remat != "none":   # argument 4 (self = 0) is `deterministic`: static
      block_class = nn.remat(block_class, static_argnums=(4,), policy=REMAT_POLICIES[self.remat])
    fields = {f.name: getattr(self.block, f.name) for f in dataclasses.fields(self.block)
              if f.init and f.name not in ("parent", "name")}
    for layer in range(self.num_layers):
      fields["stochastic_depth"] = self.block.stochastic_depth * (layer + 1) / self.num_layers
      x = block_class(**fields, parent=self, name=f"layers_{layer}")(x, paddings, positions,
                                                                      deterministic)
    return mask_padded(x, paddings), paddings
